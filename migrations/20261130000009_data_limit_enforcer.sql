-- Data-limit enforcement becomes a decider (simledger-policies) and `limits` a read model.
--
-- The enforcer keeps the state it decides from, with its checkpoint and dead letters, under
-- its own name: it carries on where the old `limits` projection stopped and takes no decision
-- twice. `limits` starts again from position 0 as a read model that folds usage and the
-- enforcer's decisions; nothing appends on its replay.
ALTER TABLE limits_sims RENAME TO limit_enforcer_sims;
ALTER INDEX limits_sims_pkey RENAME TO limit_enforcer_sims_pkey;
ALTER TABLE limits_fleets RENAME TO limit_enforcer_fleets;
ALTER INDEX limits_fleets_pkey RENAME TO limit_enforcer_fleets_pkey;
ALTER TABLE limits_periods RENAME TO limit_enforcer_periods;
ALTER INDEX limits_periods_pkey RENAME TO limit_enforcer_periods_pkey;
ALTER INDEX limits_periods_blocked RENAME TO limit_enforcer_periods_blocked;
UPDATE checkpoints SET name = 'data-limit-enforcer' WHERE name = 'limits';
UPDATE dead_letters SET subscriber = 'data-limit-enforcer' WHERE subscriber = 'limits';

-- simledger-projections / limits (read model): when each SIM became ready and active, the
-- anchors of its billing periods. Rebuildable by `simledger replay --projection limits`.
CREATE TABLE limits_sims (
    sim_sid     text PRIMARY KEY,
    account_sid text NOT NULL,
    ready_at    timestamptz,
    active_at   timestamptz
);

-- Bytes used in one billing period of one SIM, and whether the enforcer has it blocked.
CREATE TABLE limits_periods (
    sim_sid      text NOT NULL,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    period_type  text NOT NULL,
    used_bytes   bigint NOT NULL DEFAULT 0,
    blocked      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (sim_sid, period_start)
);
