-- simledger-policies / device_signals: what the decider remembers of each SIM (its rule's
-- state, as JSON) and each fleet's thresholds and bound actions.
CREATE TABLE signal_sims (
    sim_sid text PRIMARY KEY,
    state   jsonb NOT NULL
);
CREATE TABLE signal_fleets (
    fleet_sid               text PRIMARY KEY,
    account_sid             text NOT NULL,
    actions_id              text,
    usage_spike_factor      bigint NOT NULL,
    attach_storm_rejections bigint NOT NULL
);

-- simledger-projections / registry: the same policy as `GET /v1/Fleets/{Sid}/DeviceSignals` shows it.
CREATE TABLE registry_fleet_signal_policies (
    fleet_sid               text PRIMARY KEY,
    account_sid             text NOT NULL,
    actions_id              text,
    usage_spike_factor      bigint NOT NULL,
    attach_storm_rejections bigint NOT NULL,
    date_updated            timestamptz NOT NULL
);
