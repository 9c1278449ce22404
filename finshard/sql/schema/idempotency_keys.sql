CREATE TABLE IF NOT EXISTS finshard.idempotency_keys (
    account_id      bigint      NOT NULL,
    idempotency_key text        NOT NULL,
    operation       text        NOT NULL,
    request         jsonb       NOT NULL,
    result          jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, idempotency_key)
);
COMMENT ON TABLE finshard.idempotency_keys IS 'Requests applied with an idempotency key, scoped to the account that pays: a retry returns result, other parameters raise FS030';
COMMENT ON COLUMN finshard.idempotency_keys.request IS 'the operation''s parameters, compared on retry';
