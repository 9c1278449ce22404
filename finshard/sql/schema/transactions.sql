CREATE TABLE IF NOT EXISTS finshard.transactions (
    account_id       bigint        NOT NULL,
    entry_seq        bigint        NOT NULL,
    transaction_id   bigserial     NOT NULL,
    transaction_type finshard.entry_type NOT NULL,
    amount           numeric(22,4) NOT NULL,
    balance_after    numeric(22,4) NOT NULL,
    currency         text          NOT NULL,
    status           finshard.entry_status NOT NULL DEFAULT 'success',
    transfer_id      bigint,
    order_id         bigint,
    trade_id         bigint,
    counterparty_account_id bigint,
    description      text,
    created_at       timestamptz   NOT NULL,
    PRIMARY KEY (account_id, created_at, entry_seq)
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE finshard.transactions IS 'The ledger: one row per balance change, monthly partitions on created_at, distributed by account_id';
COMMENT ON COLUMN finshard.transactions.amount IS 'signed: credits positive, debits negative, so opening balance + sum(amount) = closing balance';
COMMENT ON COLUMN finshard.transactions.entry_seq IS 'per-account 1, 2, 3...: the order of entries (transaction_id comes from per-node sequences on Citus and is not ordered)';
COMMENT ON COLUMN finshard.transactions.transaction_type IS 'fx_out/fx_in are the house fx accounts'' legs of a cross-currency transfer; trade_buy/trade_sell settle fills; fee is commission';

-- Seed 001: history and analytics filter on account_id and created_at; the primary key serves
-- them, and the last entry (created_at never decreases along entry_seq), with one index to write.
