-- Calls to customers' URLs waiting to be made, per tenant (see exporters/src/outbound_calls.rs).
-- Written by the subscribers that decide them, in their batch's transaction; deleted once made
-- or given up.
CREATE TABLE outbound_calls (
    id              bigserial PRIMARY KEY,
    tenant          text NOT NULL,
    -- The event the call is for, and which call of it: a batch applied twice queues it once.
    event_id        uuid NOT NULL,
    kind            text NOT NULL,
    method          text NOT NULL,
    url             text NOT NULL,
    content_type    text NOT NULL,
    body            bytea NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    -- When the call may next be tried; a delivering worker sets it ahead as its lease.
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, kind)
);
CREATE INDEX outbound_calls_due ON outbound_calls (next_attempt_at);
CREATE INDEX outbound_calls_tenant ON outbound_calls (tenant, id);
