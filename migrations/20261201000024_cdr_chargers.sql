-- simledger-projections / cdrs: ChargerS. A tenant's charger profiles (folded from
-- billing.charger_set / billing.charger_removed; rebuildable by `simledger replay --projection
-- cdrs`), and the log position from which a CDR's order IDs leave room for several runs
-- (position × 16 + run index; before it, order ID = position), so order IDs only ever grow.
CREATE TABLE cdr_chargers (
    tenant text NOT NULL,
    id     text NOT NULL,
    doc    jsonb NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE cdr_order_scheme (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    runs_since bigint NOT NULL
);
