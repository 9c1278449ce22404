CREATE TABLE IF NOT EXISTS finshard.transfers (
    transfer_id      bigserial     NOT NULL,
    from_account_id  bigint        NOT NULL,
    to_account_id    bigint        NOT NULL,
    amount           finshard.positive_amount NOT NULL,
    currency         text          NOT NULL,
    to_amount        numeric(22,4),
    to_currency      text          NOT NULL,
    fx_rate          numeric(24,10),
    status           finshard.transfer_status NOT NULL,
    posted_amount    numeric(22,4),
    expires_at       timestamptz,
    idempotency_key  text,
    description      text,
    created_at       timestamptz   NOT NULL DEFAULT now(),
    resolved_at      timestamptz,
    PRIMARY KEY (from_account_id, transfer_id),
    -- That the amount is above zero is its domain's rule: PostgreSQL re-reads and re-plans a table
    -- CHECK on every INSERT statement, a domain's rule once per session.
    CONSTRAINT transfers_valid_check CHECK (from_account_id <> to_account_id)
);
COMMENT ON TABLE finshard.transfers IS 'One row per transfer, on the source account''s shard; the ledger''s transfer_out and transfer_in rows reference it';
COMMENT ON COLUMN finshard.transfers.status IS 'success for immediate transfers; pending (funds reserved) -> success (posted), voided or expired for two-phase ones';
COMMENT ON COLUMN finshard.transfers.fx_rate IS 'rate used when the currencies differ: to_amount = round(amount * fx_rate, minor units of to_currency)';
COMMENT ON COLUMN finshard.transfers.posted_amount IS 'for a posted pending transfer: the amount that moved (at most amount)';

CREATE INDEX IF NOT EXISTS transfers_pending_idx ON finshard.transfers (expires_at) WHERE status = 'pending';
