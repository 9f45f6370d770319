-- simledger-projections / billing: CGrateS-style accounts (balances, triggers, counters as one
-- JSON document each, as simledger_billing::Account serializes) and the definitions accounts
-- refer to by ID. Rebuilt by `simledger replay --projection billing`.
CREATE TABLE billing_accounts (
    tenant  text NOT NULL,
    account text NOT NULL,
    doc     jsonb NOT NULL,
    PRIMARY KEY (tenant, account)
);

CREATE TABLE billing_catalog (
    tenant text NOT NULL,
    kind   text NOT NULL CHECK (kind IN ('actions', 'triggers', 'destination')),
    id     text NOT NULL,
    doc    jsonb NOT NULL,
    PRIMARY KEY (tenant, kind, id)
);

-- Not a projection: destinations staged under a tariff plan ID (CGrateS's StorDB TP tables) by
-- `SetTPDestination`, made live by `LoadTariffPlanFromStorDb`.
CREATE TABLE billing_tp_destinations (
    tenant   text NOT NULL,
    tpid     text NOT NULL,
    id       text NOT NULL,
    prefixes text[] NOT NULL,
    PRIMARY KEY (tenant, tpid, id)
);
