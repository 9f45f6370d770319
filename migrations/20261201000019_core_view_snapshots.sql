-- simledger-core / snapshot: the core views at a log position, so a start follows the log from
-- there instead of from 0. A cache: rows can be dropped at any time.
CREATE TABLE core_view_snapshots (
    position bigint NOT NULL,
    format   integer NOT NULL,
    taken_at timestamptz NOT NULL,
    data     bytea NOT NULL,
    PRIMARY KEY (position, format)
);
