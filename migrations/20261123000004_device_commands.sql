-- simledger-projections / device_commands: SMS Commands and IP Commands as Twilio lists them,
-- built from the log. Rebuildable by `simledger replay --projection device_commands`.

CREATE TABLE device_sms_commands (
    sms_command_sid text PRIMARY KEY,
    account_sid     text NOT NULL,
    sim_sid         text NOT NULL,
    payload         text NOT NULL,
    -- queued, sent, delivered, received, failed
    status          text NOT NULL,
    -- to_sim, from_sim
    direction       text NOT NULL,
    callback_url    text,
    callback_method text,
    date_created    timestamptz NOT NULL,
    date_updated    timestamptz NOT NULL
);
CREATE INDEX device_sms_commands_account ON device_sms_commands (account_sid, sms_command_sid);

CREATE TABLE device_ip_commands (
    ip_command_sid  text PRIMARY KEY,
    account_sid     text NOT NULL,
    sim_sid         text NOT NULL,
    sim_iccid       text NOT NULL,
    status          text NOT NULL,
    direction       text NOT NULL,
    device_ip       text,
    device_port     integer NOT NULL,
    payload_type    text NOT NULL,
    payload         text NOT NULL,
    callback_url    text,
    callback_method text,
    date_created    timestamptz NOT NULL,
    date_updated    timestamptz NOT NULL
);
CREATE INDEX device_ip_commands_account ON device_ip_commands (account_sid, ip_command_sid);

-- Every IP address a SIM's data sessions were given (`GET /v1/Sims/{Sid}/IpAddresses`).
CREATE TABLE device_sim_ip_addresses (
    sim_sid    text NOT NULL,
    ip_address text NOT NULL,
    PRIMARY KEY (sim_sid, ip_address)
);
