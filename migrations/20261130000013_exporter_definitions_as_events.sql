-- simledger-exporters / CDR exporters: definitions are logged as `cdr_exporter.defined` and
-- folded into `cdr_exporters`; `defined_position` is the log position of the definition in
-- force, so an older definition applied late (by the command or the subscriber) changes nothing.
ALTER TABLE cdr_exporters ADD COLUMN defined_position bigint NOT NULL DEFAULT 0;
