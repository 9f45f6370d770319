-- simledger-commands / accounts: who may call the API. Not event-sourced on purpose: these rows
-- hold credentials (as hashes), and everything in the event log is streamed to customers' sinks.

CREATE TABLE accounts (
    account_sid       text PRIMARY KEY,
    friendly_name     text NOT NULL,
    -- `customer` calls /v1; `operator` also calls /operator (inventory, accounts).
    role              text NOT NULL CHECK (role IN ('customer', 'operator')),
    auth_token_sha256 text NOT NULL,
    date_created      timestamptz NOT NULL DEFAULT now()
);

-- API keys (`SK…`): a second credential for an account, revocable on its own.
CREATE TABLE account_keys (
    key_sid       text PRIMARY KEY,
    account_sid   text NOT NULL REFERENCES accounts (account_sid),
    friendly_name text NOT NULL,
    secret_sha256 text NOT NULL,
    date_created  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_keys_account ON account_keys (account_sid);
