-- simledger-projections / billing: the SIMs and fleets billing's effects act on, folded by the
-- billing projection from the log (so `*suspend_sim` and `*set_fleet_data_limit` decide from
-- the state at their cause, as a replay sees it, not from the registry as it is now).
-- Rebuildable by `simledger replay --projection billing`.
CREATE TABLE billing_sims (
    sim_sid     text PRIMARY KEY,
    account_sid text NOT NULL,
    fleet_sid   text,
    status      text NOT NULL
);

CREATE TABLE billing_fleets (
    fleet_sid     text PRIMARY KEY,
    account_sid   text NOT NULL,
    data_limit_mb bigint NOT NULL
);

-- A deployment upgraded in place: billing has read past these SIMs' and fleets' events, so it
-- starts from the registry as it stands (a replay then rebuilds both from the log).
INSERT INTO billing_sims (sim_sid, account_sid, fleet_sid, status)
    SELECT sim_sid, account_sid, fleet_sid, status FROM registry_sims WHERE account_sid IS NOT NULL;
INSERT INTO billing_fleets (fleet_sid, account_sid, data_limit_mb)
    SELECT fleet_sid, account_sid, data_limit_mb FROM registry_fleets;
