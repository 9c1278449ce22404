CREATE TABLE IF NOT EXISTS finshard.trades (
    account_id    bigint        NOT NULL,
    trade_id      bigserial     NOT NULL,
    order_id      bigint        NOT NULL,
    instrument_id bigint        NOT NULL REFERENCES finshard.instruments (instrument_id),
    side          text          NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity      numeric(20,8) NOT NULL CHECK (quantity > 0),
    price         numeric(20,8) NOT NULL CHECK (price > 0),
    commission    numeric(22,4) NOT NULL DEFAULT 0 CHECK (commission >= 0),
    realized_pnl  numeric(22,4) NOT NULL DEFAULT 0,
    executed_at   timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, trade_id, executed_at)
) PARTITION BY RANGE (executed_at);
COMMENT ON TABLE finshard.trades IS 'Fills (seed 003), monthly partitions on executed_at, distributed by account_id';

-- Seed 002: a user's trade history by date, and per-instrument trades by date.
CREATE INDEX IF NOT EXISTS trades_account_executed_idx ON finshard.trades (account_id, executed_at DESC);
CREATE INDEX IF NOT EXISTS trades_instrument_executed_idx ON finshard.trades (instrument_id, executed_at DESC);
CREATE INDEX IF NOT EXISTS trades_order_idx ON finshard.trades (account_id, order_id);
