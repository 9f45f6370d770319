-- simledger-exporters / CDR export runs: one row per completed run, written in the same
-- statement that moves the exporter's cursor, so a run is recorded exactly when it counts.
CREATE TABLE cdr_export_runs (
    tenant         text NOT NULL,
    exporter_id    text NOT NULL,
    first_order_id bigint NOT NULL,
    last_order_id  bigint NOT NULL,
    cdrs           bigint NOT NULL,
    files          text[] NOT NULL,
    finished_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, exporter_id, last_order_id)
);
CREATE INDEX cdr_export_runs_recent ON cdr_export_runs (tenant, finished_at DESC);
