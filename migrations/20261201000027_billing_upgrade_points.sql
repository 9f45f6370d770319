-- simledger-policies / billing: where, in each shard's log, two changes of billing's rules take
-- effect, so that events billing applied before the upgrade are folded by the rules they were
-- folded by then, in a replay too:
--   `charger_runs`: each rated charger run of an external CDR debits its own account (before:
--   one debit per CDR, on its own fields);
--   `plan_rebinds`: a redefined or shadowed action plan rebinds its changed timings.
-- Events after `until_position` follow the new rules. A fresh deployment has no checkpoint, so
-- every event does. Not a projection table: a replay keeps it.
CREATE TABLE billing_upgrade_points (
    name           text    NOT NULL,
    shard          integer NOT NULL,
    until_position bigint  NOT NULL,
    PRIMARY KEY (name, shard)
);
INSERT INTO billing_upgrade_points (name, shard, until_position)
SELECT rule, c.shard, c.position
FROM checkpoints c CROSS JOIN (VALUES ('charger_runs'), ('plan_rebinds')) AS r(rule)
WHERE c.name = 'billing';

-- Live billing does not read events it applied before: the profiles set before the upgrade
-- come from the `cdrs` projection's copy.
INSERT INTO billing_chargers (tenant, id, doc)
SELECT tenant, id, doc FROM cdr_chargers
ON CONFLICT (tenant, id) DO NOTHING;

-- Membership is now current (a member whose balances left a group is no longer one), kept
-- per account as it is written.
CREATE INDEX billing_shared_group_members_by_account ON billing_shared_group_members (tenant, account);
