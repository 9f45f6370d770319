-- simledger-eventlog: the append-only event log, its shard heads and subscriber checkpoints.

-- One row per shard; `head` is the last position appended. Appenders lock the row for the length
-- of their transaction, so positions are handed out gap-free and in commit order: the lock is
-- released only after the commit is visible, so no reader can see position N+1 without N.
CREATE TABLE log_shards (
    shard integer PRIMARY KEY,
    head  bigint  NOT NULL DEFAULT 0 CHECK (head >= 0)
);
INSERT INTO log_shards (shard, head) VALUES (0, 0);

CREATE TABLE events (
    shard          integer     NOT NULL,
    position       bigint      NOT NULL,
    event_id       uuid        NOT NULL,
    stream         text        NOT NULL,
    stream_version integer     NOT NULL CHECK (stream_version > 0),
    type           text        NOT NULL,
    data           jsonb       NOT NULL,
    metadata       jsonb       NOT NULL,
    recorded_at    timestamptz NOT NULL,
    PRIMARY KEY (shard, position),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream, stream_version)
);

-- The log is append-only: history is corrected by new events, never by editing old ones.
CREATE FUNCTION events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only (% refused)', TG_OP;
END;
$$;
CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_append_only();

-- How far each subscriber (projection, node view, exporter, sink) has consumed each shard.
-- Written in the same transaction as the subscriber's own tables.
CREATE TABLE checkpoints (
    name       text        NOT NULL,
    shard      integer     NOT NULL,
    position   bigint      NOT NULL CHECK (position >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, shard)
);
