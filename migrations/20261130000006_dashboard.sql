-- simledger-projections / dashboard: the aggregates the dashboard reads, so no page scans the
-- log or every SIM. Rebuildable by `simledger replay --projection dashboard`.

-- Each registered SIM's status and fleet (to move its count when either changes), open data
-- sessions, data-limit block, and where the network last saw it.
CREATE TABLE dash_sims (
    sim_sid       text PRIMARY KEY,
    account_sid   text NOT NULL,
    fleet_sid     text NOT NULL DEFAULT '',
    status        text NOT NULL,
    open_sessions integer NOT NULL DEFAULT 0,
    blocked       boolean NOT NULL DEFAULT false,
    network_sid   text,
    network_name  text,
    mcc           text,
    mnc           text,
    iso_country   text,
    cell_id       text,
    lac           text,
    rat_type      text,
    last_event    text,
    last_seen_at  timestamptz
);

-- SIMs per account, fleet ('' for none) and status.
CREATE TABLE dash_sim_counts (
    account_sid text NOT NULL,
    fleet_sid   text NOT NULL,
    status      text NOT NULL,
    sims        bigint NOT NULL,
    PRIMARY KEY (account_sid, fleet_sid, status)
);

-- Data sessions open now, by session: a start adds one, an end (or failure) removes it, so the
-- counts below move only when the set does, whatever the batching and however many times the
-- core reported an end.
CREATE TABLE dash_open_sessions (
    data_session_sid text PRIMARY KEY,
    sim_sid          text NOT NULL,
    account_sid      text NOT NULL
);

-- Per account: data sessions open now, SIMs blocked at their data limit.
CREATE TABLE dash_accounts (
    account_sid   text PRIMARY KEY,
    open_sessions bigint NOT NULL DEFAULT 0,
    blocked_sims  bigint NOT NULL DEFAULT 0
);

-- Per account and minute of commit: events, attaches accepted and refused (rejected or failed),
-- data sessions started, SMS handled, bytes carried. '' holds events of no account (inventory).
CREATE TABLE dash_minutes (
    account_sid           text NOT NULL,
    minute                timestamptz NOT NULL,
    events                bigint NOT NULL DEFAULT 0,
    attaches_accepted     bigint NOT NULL DEFAULT 0,
    attaches_rejected     bigint NOT NULL DEFAULT 0,
    data_sessions_started bigint NOT NULL DEFAULT 0,
    sms                   bigint NOT NULL DEFAULT 0,
    bytes                 bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account_sid, minute)
);
CREATE INDEX dash_minutes_minute ON dash_minutes (minute);

-- Bytes per account, hour, fleet, visited network and country: the usage charts, a few rows an
-- hour however many SIMs there are.
CREATE TABLE dash_usage_hourly (
    account_sid text NOT NULL,
    hour        timestamptz NOT NULL,
    fleet_sid   text NOT NULL,
    network_sid text NOT NULL,
    iso_country text NOT NULL,
    bytes       bigint NOT NULL,
    PRIMARY KEY (account_sid, hour, fleet_sid, network_sid, iso_country)
);

-- The log positions of each SIM's events, so its page reads its history without scanning the log.
CREATE TABLE dash_sim_events (
    sim_sid  text NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (sim_sid, position)
);

-- A SIM's CDRs newest first (the CDR's account is the SIM).
CREATE INDEX cdrs_tenant_account ON cdrs (tenant, account, order_id);

-- simledger-api / dashboard sign-ins. Not a projection: a session is the browser's, not the
-- log's. Only the token's SHA-256 is kept, so a read of this table signs no one in.
CREATE TABLE dashboard_sessions (
    token_sha256   bytea PRIMARY KEY,
    account_sid    text NOT NULL,
    -- The account or API key SID signed in with: revoking the key ends its sessions.
    credential_sid text NOT NULL,
    role         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
CREATE INDEX dashboard_sessions_credential ON dashboard_sessions (credential_sid);
