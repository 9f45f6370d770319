-- simledger-exporters / cdr_export: an online exporter's tries at one CDR before it rests
-- (CGrateS's `attempts`); three, as every exporter tried before the setting existed.
ALTER TABLE cdr_exporters ADD COLUMN attempts smallint NOT NULL DEFAULT 3;
