CREATE TABLE IF NOT EXISTS finshard.price_alerts (
    account_id    bigint        NOT NULL REFERENCES finshard.accounts (account_id),
    alert_id      bigserial     NOT NULL,
    instrument_id bigint        NOT NULL REFERENCES finshard.instruments (instrument_id),
    condition     text          NOT NULL CHECK (condition IN ('above', 'below')),
    price         numeric(20,8) NOT NULL CHECK (price > 0),
    created_at    timestamptz   NOT NULL DEFAULT now(),
    fired_at      timestamptz,
    PRIMARY KEY (account_id, alert_id)
);
COMMENT ON TABLE finshard.price_alerts IS 'Price alerts (seed 002): fire once, when a quote''s mid crosses price';

CREATE INDEX IF NOT EXISTS price_alerts_armed_idx ON finshard.price_alerts (instrument_id, condition, price) WHERE fired_at IS NULL;
