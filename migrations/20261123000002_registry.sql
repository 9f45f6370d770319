-- simledger-projections / registry: SIMs, their IMSIs, fleets and Network Access Profiles, as
-- built from the log. Rebuildable at any time by `simledger replay --projection registry`.

CREATE TABLE registry_sims (
    sim_sid                  text PRIMARY KEY,
    iccid                    text NOT NULL UNIQUE,
    registration_code_sha256 text,
    account_sid              text,
    unique_name              text,
    status                   text NOT NULL,
    fleet_sid                text,
    callback_url             text,
    callback_method          text,
    date_created             timestamptz NOT NULL,
    date_updated             timestamptz NOT NULL,
    -- stream_version of the last event applied from `sim-{sid}`: commands append with it as
    -- their expected version, so two concurrent updates cannot both win.
    version                  integer NOT NULL,
    last_position            bigint NOT NULL
);
CREATE INDEX registry_sims_account ON registry_sims (account_sid, sim_sid);
CREATE UNIQUE INDEX registry_sims_unique_name ON registry_sims (account_sid, unique_name) WHERE unique_name IS NOT NULL;

CREATE TABLE registry_sim_imsis (
    imsi      text PRIMARY KEY,
    sim_sid   text NOT NULL REFERENCES registry_sims (sim_sid),
    allowed   boolean NOT NULL DEFAULT true
);
CREATE INDEX registry_sim_imsis_sim ON registry_sim_imsis (sim_sid);

CREATE TABLE registry_fleets (
    fleet_sid                  text PRIMARY KEY,
    account_sid                text NOT NULL,
    unique_name                text,
    data_enabled               boolean NOT NULL,
    data_limit_mb              bigint NOT NULL,
    data_metering              text NOT NULL,
    network_access_profile_sid text NOT NULL,
    sms_commands_enabled       boolean NOT NULL,
    sms_commands_url           text,
    sms_commands_method        text,
    ip_commands_url            text,
    ip_commands_method         text,
    date_created               timestamptz NOT NULL,
    date_updated               timestamptz NOT NULL,
    version                    integer NOT NULL,
    last_position              bigint NOT NULL
);
CREATE INDEX registry_fleets_account ON registry_fleets (account_sid, fleet_sid);

CREATE TABLE registry_naps (
    nap_sid       text PRIMARY KEY,
    account_sid   text NOT NULL,
    unique_name   text,
    date_created  timestamptz NOT NULL,
    date_updated  timestamptz NOT NULL,
    version       integer NOT NULL,
    last_position bigint NOT NULL
);
CREATE INDEX registry_naps_account ON registry_naps (account_sid, nap_sid);

CREATE TABLE registry_nap_networks (
    nap_sid     text NOT NULL REFERENCES registry_naps (nap_sid),
    network_sid text NOT NULL,
    PRIMARY KEY (nap_sid, network_sid)
);
