-- Citus enforces only unique indexes that contain the distribution column. "One account per
-- user, bank, currency and type" does not contain account_id, so it lives here, distributed by
-- user_id: the unique key is then enforced on one shard, whichever shard the new account lands on.
CREATE TABLE IF NOT EXISTS finshard.account_keys (
    user_id      bigint      NOT NULL,
    bank_key     bigint      NOT NULL,
    currency     text        NOT NULL,
    account_type text        NOT NULL,
    account_id   bigint      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, bank_key, currency, account_type)
);
COMMENT ON TABLE finshard.account_keys IS 'Uniqueness of (user, bank, currency, type) across shards, and the user -> accounts lookup on one shard; distributed by user_id';
COMMENT ON COLUMN finshard.account_keys.bank_key IS 'bank_id, or 0 for an account held with no bank';
