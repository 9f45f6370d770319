-- simledger-core / snapshot: a snapshot's data in chunks, so its size is not capped by the
-- largest value a bytea holds (1 GB: about three million SIMs in one value). Format 3 and later
-- keep `data` empty and their bytes here, in `chunk` order; earlier formats keep them in `data`.
ALTER TABLE core_view_snapshots ADD COLUMN chunks integer NOT NULL DEFAULT 0;

CREATE TABLE core_view_snapshot_chunks (
    position bigint NOT NULL,
    format   integer NOT NULL,
    chunk    integer NOT NULL,
    data     bytea NOT NULL,
    PRIMARY KEY (position, format, chunk),
    FOREIGN KEY (position, format) REFERENCES core_view_snapshots (position, format) ON DELETE CASCADE ON UPDATE CASCADE
);
