-- simledger-projections / event_streams: Twilio Event Streams' Sinks and Subscriptions, folded
-- from `sink.*` and `subscription.*` events (a read model: rebuilt by replay).
CREATE TABLE es_sinks (
    sink_sid           text PRIMARY KEY,
    account_sid        text NOT NULL,
    description        text NOT NULL,
    sink_type          text NOT NULL,
    sink_configuration jsonb NOT NULL,
    -- `initialized` until a test event's id is validated, then `active`. Delivery trouble
    -- (`failed`) is the sink cursor's, not the log's: see `sink_cursors`.
    status             text NOT NULL,
    last_test_id       text,
    date_created       timestamptz NOT NULL,
    date_updated       timestamptz NOT NULL,
    version            integer NOT NULL
);
CREATE INDEX es_sinks_account ON es_sinks (account_sid, sink_sid);

CREATE TABLE es_subscriptions (
    subscription_sid text PRIMARY KEY,
    account_sid      text NOT NULL,
    sink_sid         text NOT NULL,
    description      text NOT NULL,
    date_created     timestamptz NOT NULL,
    date_updated     timestamptz NOT NULL,
    version          integer NOT NULL
);
CREATE INDEX es_subscriptions_account ON es_subscriptions (account_sid, subscription_sid);
-- A sink serves one subscription, as on Twilio ("Sink … is in use").
CREATE UNIQUE INDEX es_subscriptions_sink ON es_subscriptions (sink_sid);

CREATE TABLE es_subscribed_events (
    subscription_sid text NOT NULL REFERENCES es_subscriptions (subscription_sid) ON DELETE CASCADE,
    account_sid      text NOT NULL,
    type             text NOT NULL,
    schema_version   integer NOT NULL,
    -- The log position of the event that subscribed it: only later events of the type are
    -- delivered.
    from_position    bigint NOT NULL,
    PRIMARY KEY (subscription_sid, type)
);

-- simledger-exporters / event_streams: each sink's delivery cursor. Not a projection: it moves
-- when the receiver acknowledged, never otherwise, so a replay must not touch it.
CREATE TABLE sink_cursors (
    sink_sid       text PRIMARY KEY,
    shard          integer NOT NULL,
    -- Every event of the sink's subscription at or below it was acknowledged by the receiver.
    position       bigint NOT NULL CHECK (position >= 0),
    -- Bumped by a rewind, so a delivery that was under way cannot move the cursor past it.
    generation     bigint NOT NULL DEFAULT 0,
    delivered      bigint NOT NULL DEFAULT 0,
    failures       bigint NOT NULL DEFAULT 0,
    failing_since  timestamptz,
    last_error     text,
    last_delivered_at timestamptz,
    -- Set by the sink's worker once deliveries kept failing longer than the deployment allows;
    -- the sink shows `failed` until a delivery succeeds again.
    failed         boolean NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- simledger-commands / accounts: a per-account nonce from which, with the deployment's secret,
-- the auth token is derived again to sign webhooks (Twilio signs with the auth token). The
-- token itself is still never stored.
ALTER TABLE accounts ADD COLUMN auth_token_nonce text;
