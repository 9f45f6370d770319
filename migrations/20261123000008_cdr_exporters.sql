-- simledger-exporters / CDR exporters: each exports its tenant's CDRs after its cursor.
CREATE TABLE cdr_exporters (
    exporter_id            text NOT NULL,
    tenant                 text NOT NULL,
    kind                   text NOT NULL CHECK (kind IN ('*file_csv')),
    export_path            text NOT NULL,
    -- CGrateS-style filters, e.g. `*string:~*req.ToR:*sms`.
    filters                text[] NOT NULL,
    field_separator        text NOT NULL,
    header                 boolean NOT NULL,
    last_exported_order_id bigint NOT NULL DEFAULT 0,
    -- The range of a run in progress: a rerun after a crash writes exactly this range again,
    -- to the same file name, so no CDR ends up in two files.
    pending_first          bigint,
    pending_last           bigint,
    date_created           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, exporter_id)
);
