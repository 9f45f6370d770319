-- simledger-policies / billing: each tenant's charger profiles as billing folds them from
-- `billing.charger_set` / `billing.charger_removed`, so each run of an external CDR is debited
-- by the profiles in force at its place in the log (the `cdrs` projection keeps its own copy,
-- `cdr_chargers`, at its own place). Rebuilt by `simledger replay --projection billing`.
CREATE TABLE billing_chargers (
    tenant text NOT NULL,
    id     text NOT NULL,
    doc    jsonb NOT NULL,
    PRIMARY KEY (tenant, id)
);
COMMENT ON TABLE billing_chargers IS
    'billing: folded from billing.charger_set and billing.charger_removed; rebuilt by replay --projection billing';
