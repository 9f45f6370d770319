-- simledger-projections / cdrs: one CDR per ended or failed data session and per SMS, with
-- CGrateS's field names. `order_id` is the log position of the event that closed the CDR:
-- positions are gap-free and in commit order, so "every CDR after order ID N" is a complete,
-- stable set. Rebuildable by `simledger replay --projection cdrs`.
CREATE TABLE cdrs (
    cgrid        text PRIMARY KEY,
    run_id       text NOT NULL,
    order_id     bigint NOT NULL UNIQUE,
    origin_host  text NOT NULL,
    source       text NOT NULL,
    origin_id    text NOT NULL,
    tor          text NOT NULL,
    request_type text NOT NULL,
    tenant       text NOT NULL,
    category     text NOT NULL,
    account      text NOT NULL,
    subject      text NOT NULL,
    destination  text NOT NULL,
    setup_time   timestamptz NOT NULL,
    answer_time  timestamptz NOT NULL,
    usage        bigint NOT NULL,
    -- -1 when no rate matched (as CGrateS), with the reason in extra_info.
    cost         numeric NOT NULL,
    extra_fields jsonb NOT NULL,
    extra_info   text
);
-- Keyset paging by order ID within a tenant; the key is the zero-padded order ID.
CREATE INDEX cdrs_tenant_order ON cdrs (tenant, (lpad(order_id::text, 20, '0')));

-- Not a projection: the operator's rating table. A CDR's rating key is the visited network's
-- MCC+MNC for *data and the destination for *sms; the longest matching prefix wins.
CREATE TABLE cdr_rates (
    tor            text NOT NULL,
    prefix         text NOT NULL,
    price_per_unit numeric NOT NULL CHECK (price_per_unit >= 0),
    -- Usage per priced unit: 1,000,000 bytes for a per-MB data price, 1 for SMS.
    unit_size      bigint NOT NULL CHECK (unit_size > 0),
    PRIMARY KEY (tor, prefix)
);
