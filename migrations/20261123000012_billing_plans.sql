-- simledger-projections / billing: action plans, and which accounts each is bound to. A
-- binding's timings count from `anchor` (when the account was bound); `last_fired` is the
-- latest firing applied, so the scheduler neither skips nor repeats one across restarts.
ALTER TABLE billing_catalog DROP CONSTRAINT billing_catalog_kind_check;
ALTER TABLE billing_catalog ADD CONSTRAINT billing_catalog_kind_check
    CHECK (kind IN ('actions', 'triggers', 'destination', 'plan'));

CREATE TABLE billing_plan_bindings (
    tenant       text NOT NULL,
    plan_id      text NOT NULL,
    account      text NOT NULL,
    timing_index integer NOT NULL,
    anchor       timestamptz NOT NULL,
    last_fired   timestamptz,
    PRIMARY KEY (tenant, plan_id, account, timing_index)
);
