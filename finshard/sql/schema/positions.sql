CREATE TABLE IF NOT EXISTS finshard.positions (
    account_id     bigint        NOT NULL REFERENCES finshard.accounts (account_id),
    instrument_id  bigint        NOT NULL REFERENCES finshard.instruments (instrument_id),
    quantity       numeric(20,8) NOT NULL DEFAULT 0,
    reserved_quantity numeric(20,8) NOT NULL DEFAULT 0 CHECK (reserved_quantity >= 0),
    average_price  numeric(20,8) NOT NULL DEFAULT 0,
    realized_pnl   numeric(22,4) NOT NULL DEFAULT 0,
    unrealized_pnl numeric(22,4) NOT NULL DEFAULT 0,
    opened_at      timestamptz   NOT NULL DEFAULT now(),
    updated_at     timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, instrument_id)
);
COMMENT ON TABLE finshard.positions IS 'Holdings per account and instrument (seed 003), colocated with accounts';
COMMENT ON COLUMN finshard.positions.reserved_quantity IS 'quantity held by open sell orders';
COMMENT ON COLUMN finshard.positions.unrealized_pnl IS 'as of the last calculate_position_pnl call';
