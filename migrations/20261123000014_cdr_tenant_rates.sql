-- simledger-projections / cdrs: the tenants' own rates and destinations, folded by the cdrs
-- projection from the same `billing.rate_set` / `billing.destination_set` events the billing
-- projection folds, so a CDR is rated as its tenant's balances are, at its place in the log.
CREATE TABLE cdr_tenant_rates (
    tenant text NOT NULL,
    id     text NOT NULL,
    tor    text NOT NULL,
    doc    jsonb NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX cdr_tenant_rates_by_tor ON cdr_tenant_rates (tenant, tor);

CREATE TABLE cdr_tenant_destinations (
    tenant   text NOT NULL,
    id       text NOT NULL,
    prefixes text[] NOT NULL,
    PRIMARY KEY (tenant, id)
);
