CREATE TABLE IF NOT EXISTS finshard.orders (
    account_id      bigint        NOT NULL,
    order_id        bigserial     NOT NULL,
    instrument_id   bigint        NOT NULL REFERENCES finshard.instruments (instrument_id),
    order_type      text          NOT NULL CHECK (order_type IN ('market', 'limit', 'stop', 'stop_limit')),
    side            text          NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity        numeric(20,8) NOT NULL CHECK (quantity > 0),
    price           numeric(20,8),
    stop_price      numeric(20,8),
    time_in_force   text          NOT NULL DEFAULT 'GTC' CHECK (time_in_force IN ('GTC', 'IOC', 'FOK', 'DAY')),
    status          text          NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'partially_filled', 'filled', 'cancelled', 'expired', 'rejected')),
    triggered       boolean       NOT NULL DEFAULT false,
    filled_quantity numeric(20,8) NOT NULL DEFAULT 0,
    average_fill_price numeric(20,8),
    reserved_cash   numeric(22,4) NOT NULL DEFAULT 0 CHECK (reserved_cash >= 0),
    idempotency_key text,
    created_at      timestamptz   NOT NULL DEFAULT now(),
    updated_at      timestamptz   NOT NULL DEFAULT now(),
    filled_at       timestamptz,
    PRIMARY KEY (account_id, order_id, created_at),
    CONSTRAINT orders_filled_quantity_check CHECK (filled_quantity >= 0 AND filled_quantity <= quantity)
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE finshard.orders IS 'Orders (seed 003), monthly partitions on created_at, distributed by account_id';
COMMENT ON COLUMN finshard.orders.triggered IS 'stop and stop_limit orders: true once the quote crossed stop_price';
COMMENT ON COLUMN finshard.orders.reserved_cash IS 'cash still held for the unfilled part of an open buy (price or ask, plus commission); released on fill, cancel or expiry';

-- Seed 003: orders by account and by instrument; open orders are what quote updates scan.
CREATE INDEX IF NOT EXISTS orders_account_created_idx ON finshard.orders (account_id, created_at DESC);
CREATE INDEX IF NOT EXISTS orders_open_instrument_idx ON finshard.orders (instrument_id, side, price) WHERE status IN ('new', 'partially_filled');
