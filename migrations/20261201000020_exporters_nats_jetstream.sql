-- simledger-exporters / cdr_export: whether a *nats_json_map exporter publishes through
-- JetStream (as every one did before the choice existed) or plain NATS (CGrateS's default).
ALTER TABLE cdr_exporters ADD COLUMN nats_jetstream boolean NOT NULL DEFAULT true;
