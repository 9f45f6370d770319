-- simledger-policies / billing: balance timings and shared groups (CGrateS's `TimingIDs` and
-- `SharedGroups`). Their definitions live in `billing_catalog` (kinds `timing` and
-- `shared_group`); these two tables are folded from the log too and rebuilt by
-- `simledger replay --projection billing`.

-- Timings and shared groups staged under a tariff plan ID (`SetTPTiming`, `SetTPSharedGroups`),
-- read only by `LoadTariffPlanFromStorDb`.
CREATE TABLE billing_tp_staged (
    tenant text NOT NULL,
    tpid   text NOT NULL,
    kind   text NOT NULL,
    id     text NOT NULL,
    doc    jsonb NOT NULL,
    PRIMARY KEY (tenant, tpid, kind, id)
);
COMMENT ON TABLE billing_tp_staged IS
    'billing: folded from billing.tp_timing_staged and billing.tp_shared_group_staged; rebuilt by replay --projection billing';

-- The accounts of a tenant that ever held a balance in a shared group: whose balances a debit
-- of another member draws on. Never across tenants: the tenant is part of every lookup.
CREATE TABLE billing_shared_group_members (
    tenant   text NOT NULL,
    group_id text NOT NULL,
    account  text NOT NULL,
    PRIMARY KEY (tenant, group_id, account)
);
COMMENT ON TABLE billing_shared_group_members IS
    'billing: folded from the accounts billing writes; rebuilt by replay --projection billing';

ALTER TABLE billing_catalog DROP CONSTRAINT billing_catalog_kind_check;
ALTER TABLE billing_catalog ADD CONSTRAINT billing_catalog_kind_check
    CHECK (kind IN ('actions', 'triggers', 'destination', 'plan', 'rate', 'timing', 'shared_group'));
