-- simledger-exporters / CDR exporters: JSON-lines kinds, CGrateS field templates, schedules,
-- and exporters declared in the configuration file.
ALTER TABLE cdr_exporters DROP CONSTRAINT cdr_exporters_kind_check;
ALTER TABLE cdr_exporters ADD CONSTRAINT cdr_exporters_kind_check
    CHECK (kind IN ('*file_csv', '*file_json', '*s3_csv', '*s3_json_map'));
-- `[{tag, path, type, value, layout, rounding_decimals, filters}]`; empty: every CDR field.
ALTER TABLE cdr_exporters ADD COLUMN fields jsonb NOT NULL DEFAULT '[]';
-- `*hourly`, `*every:15m`, …; NULL runs on demand only. `next_run_at` is the next firing.
ALTER TABLE cdr_exporters ADD COLUMN schedule text;
ALTER TABLE cdr_exporters ADD COLUMN next_run_at timestamptz;
ALTER TABLE cdr_exporters ADD COLUMN declared boolean NOT NULL DEFAULT false;
CREATE INDEX cdr_exporters_due ON cdr_exporters (next_run_at) WHERE next_run_at IS NOT NULL;
