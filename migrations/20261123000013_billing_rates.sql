-- simledger-projections / billing: a tenant's own rates (`billing.rate_set`) are catalog rows.
ALTER TABLE billing_catalog DROP CONSTRAINT billing_catalog_kind_check;
ALTER TABLE billing_catalog ADD CONSTRAINT billing_catalog_kind_check
    CHECK (kind IN ('actions', 'triggers', 'destination', 'plan', 'rate'));
