-- IP Commands are dispatched from now on: commands created before this migration stay as they
-- were (queued) rather than reaching devices, and their callbacks, months late.
INSERT INTO checkpoints (name, shard, position)
SELECT 'ip_dispatch', shard, head FROM log_shards
ON CONFLICT DO NOTHING;

-- Tariff plans staged before staging became an event are appended now, as the operator's rates
-- were (20261130000008), so `replay --projection billing` rebuilds them too. Ids derive from
-- what they stage; the stream is this migration's own, so no stream version collides.
WITH head AS (SELECT head FROM log_shards WHERE shard = 0 FOR UPDATE),
staged AS (
    SELECT tenant, tpid, id, prefixes, row_number() OVER (ORDER BY tenant, tpid, id) AS n
    FROM billing_tp_destinations
),
appended AS (
    INSERT INTO events (shard, position, event_id, stream, stream_version, type, data, metadata, recorded_at)
    SELECT 0, head.head + staged.n,
           md5('billing.tp_destination_staged/' || tenant || '/' || tpid || '/' || id)::uuid,
           'billing-tp-staging-migration', staged.n, 'billing.tp_destination_staged',
           jsonb_build_object('tenant', tenant, 'tpid', tpid, 'id', id, 'prefixes', to_jsonb(prefixes)),
           '{"source": "migration"}'::jsonb, now()
    FROM staged, head
    RETURNING position
)
UPDATE log_shards SET head = (SELECT max(position) FROM appended)
WHERE shard = 0 AND EXISTS (SELECT 1 FROM appended);
