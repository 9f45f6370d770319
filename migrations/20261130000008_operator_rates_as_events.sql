-- The operator's CDR rates become events (`operator.cdr_rate_set`), folded by the `cdrs`
-- projection (into `cdr_rates`, now its table) and by `billing` (into `billing_operator_rates`),
-- so a replay prices usage by the rates in force at its place in the log. Rates set before this
-- migration are appended now, in (ToR, prefix) order, with ids derived from what they price:
-- usage logged before this point was priced by rates the log never held, and a replay prices
-- it by none.
CREATE TABLE billing_operator_rates (
    tor            text NOT NULL,
    prefix         text NOT NULL,
    price_per_unit numeric NOT NULL CHECK (price_per_unit >= 0),
    unit_size      bigint NOT NULL CHECK (unit_size > 0),
    PRIMARY KEY (tor, prefix)
);
INSERT INTO billing_operator_rates (tor, prefix, price_per_unit, unit_size)
SELECT tor, prefix, price_per_unit, unit_size FROM cdr_rates;

-- Appended as the log's appender appends: under the shard's head lock, gap-free.
WITH head AS (SELECT head FROM log_shards WHERE shard = 0 FOR UPDATE),
rates AS (
    SELECT tor, prefix, price_per_unit, unit_size, row_number() OVER (ORDER BY tor, prefix) AS n FROM cdr_rates
),
appended AS (
    INSERT INTO events (shard, position, event_id, stream, stream_version, type, data, metadata, recorded_at)
    SELECT 0, head.head + rates.n, md5('operator.cdr_rate_set/' || tor || '/' || prefix)::uuid,
           'operator-cdr-rates', rates.n, 'operator.cdr_rate_set',
           jsonb_build_object('tor', tor, 'prefix', prefix, 'price_per_unit', price_per_unit::text,
                              'unit_size', unit_size),
           '{"source": "migration"}'::jsonb, now()
    FROM rates, head
    RETURNING position
)
UPDATE log_shards SET head = (SELECT max(position) FROM appended)
WHERE shard = 0 AND EXISTS (SELECT 1 FROM appended);
