-- simledger-projections / limits: per-SIM usage per billing period and the data-limit decisions
-- taken from it. Rebuildable by `simledger replay --projection limits`.

-- When each SIM became ready and active (its billing periods follow from these) and its fleet.
CREATE TABLE limits_sims (
    sim_sid     text PRIMARY KEY,
    account_sid text NOT NULL,
    fleet_sid   text,
    ready_at    timestamptz,
    active_at   timestamptz
);

CREATE TABLE limits_fleets (
    fleet_sid     text PRIMARY KEY,
    data_limit_mb bigint NOT NULL,
    data_enabled  boolean NOT NULL
);

-- Bytes used in one billing period of one SIM, and whether the SIM is blocked in it.
CREATE TABLE limits_periods (
    sim_sid      text NOT NULL,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    period_type  text NOT NULL,
    used_bytes   bigint NOT NULL DEFAULT 0,
    blocked      boolean NOT NULL DEFAULT false,
    -- Decisions taken in this period so far; numbers the next decision's event id, so a
    -- re-run after a crash appends the same event, which the log deduplicates.
    decisions    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (sim_sid, period_start)
);
CREATE INDEX limits_periods_blocked ON limits_periods (period_end) WHERE blocked;

-- simledger-projections / usage: bytes per SIM, fleet, visited network and hour.
-- Rebuildable by `simledger replay --projection usage`.
CREATE TABLE usage_hourly (
    account_sid   text NOT NULL,
    sim_sid       text NOT NULL,
    fleet_sid     text NOT NULL DEFAULT '',
    network_sid   text NOT NULL,
    iso_country   text NOT NULL,
    hour          timestamptz NOT NULL,
    data_upload   bigint NOT NULL,
    data_download bigint NOT NULL,
    data_total    bigint NOT NULL,
    PRIMARY KEY (sim_sid, network_sid, fleet_sid, hour)
);
CREATE INDEX usage_hourly_account ON usage_hourly (account_sid, hour);

-- Not a projection: the operator's price per MB of data by visited country.
CREATE TABLE usage_rates (
    iso_country  text PRIMARY KEY,
    price_per_mb numeric NOT NULL CHECK (price_per_mb >= 0),
    currency     text NOT NULL
);

-- simledger-exporters / callbacks: where to tell customers about SMS commands. Kept by the
-- callback notifier in its own transactions, so it never depends on another projection's pace.
CREATE TABLE callback_sms_targets (
    sms_command_sid text PRIMARY KEY,
    url             text NOT NULL,
    method          text NOT NULL
);
