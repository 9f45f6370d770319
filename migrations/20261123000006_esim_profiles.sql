-- simledger-projections / device_commands: eSIM profiles reserved at simledger's SM-DP+.
CREATE TABLE device_esim_profiles (
    esim_profile_sid  text PRIMARY KEY,
    account_sid       text NOT NULL,
    iccid             text NOT NULL,
    sim_sid           text,
    status            text NOT NULL,
    eid               text,
    smdp_plus_address text NOT NULL,
    matching_id       text,
    activation_code   text NOT NULL,
    error_code        text,
    error_message     text,
    date_created      timestamptz NOT NULL,
    date_updated      timestamptz NOT NULL
);
CREATE INDEX device_esim_profiles_account ON device_esim_profiles (account_sid, esim_profile_sid);
