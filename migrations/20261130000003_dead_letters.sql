-- Events a subscriber could not apply and skipped (see eventlog/src/dead_letter.rs).
CREATE TABLE dead_letters (
    subscriber  text NOT NULL,
    shard       integer NOT NULL,
    position    bigint NOT NULL,
    event_id    uuid NOT NULL,
    event_type  text NOT NULL,
    reason      text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscriber, shard, position)
);
