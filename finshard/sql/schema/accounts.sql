CREATE TABLE IF NOT EXISTS finshard.accounts (
    account_id     bigserial      PRIMARY KEY,
    user_id        bigint         NOT NULL REFERENCES finshard.users (user_id),
    bank_id        bigint         REFERENCES finshard.banks (bank_id),
    account_type   finshard.account_type NOT NULL DEFAULT 'cash',
    account_number text           NOT NULL,
    currency       text           NOT NULL REFERENCES finshard.currencies (code),
    balance        numeric(22,4)  NOT NULL DEFAULT 0,
    reserved       finshard.nonnegative_amount NOT NULL DEFAULT 0,
    status         finshard.account_status NOT NULL DEFAULT 'active',
    owner_active   boolean        NOT NULL DEFAULT true,
    entry_seq      bigint         NOT NULL DEFAULT 0,
    last_entry_at  timestamptz    NOT NULL DEFAULT '-infinity',
    audit_seq      bigint         NOT NULL DEFAULT 0,
    audit_hash     text           NOT NULL DEFAULT '',
    audit_prev_hash text          NOT NULL DEFAULT '',
    created_at     timestamptz    NOT NULL DEFAULT now(),
    updated_at     timestamptz    NOT NULL DEFAULT now(),
    -- House fx accounts carry the house's position and may go negative; nobody else may (that
    -- reserved is not negative is its domain's rule). PostgreSQL re-reads and re-plans a table
    -- CHECK on every UPDATE of a balance, so there is one, with its constants in their final types
    -- (a text[] literal: the re-plan has nothing to fold).
    CONSTRAINT accounts_funded_check CHECK (balance >= reserved OR account_type::text = ANY ('{house,system}'::text[]))
);
COMMENT ON TABLE finshard.accounts IS 'Multi-currency accounts; distributed by account_id, every account-owned table is colocated with it';
COMMENT ON COLUMN finshard.accounts.account_number IS 'FS + zero-padded account_id: unique because account_id is, so no cross-shard unique index is needed';
COMMENT ON COLUMN finshard.accounts.owner_active IS 'false once the owner is deactivated (deactivate_user): the account may still receive, but neither send nor order. Kept on the row so that a payment checks it without reading users';
COMMENT ON COLUMN finshard.accounts.reserved IS 'money held by pending transfers and open buy orders; available = balance - reserved';
COMMENT ON COLUMN finshard.accounts.entry_seq IS 'number of ledger entries: the ledger row with this seq is the last one, and its balance_after equals balance';
COMMENT ON COLUMN finshard.accounts.last_entry_at IS 'created_at of the last ledger entry; the next is stamped max(clock, this + 1 microsecond), so created_at strictly increases along entry_seq';
COMMENT ON COLUMN finshard.accounts.audit_hash IS 'head of this account''s audit hash chain (finshard.audit_log)';
COMMENT ON COLUMN finshard.accounts.audit_prev_hash IS 'the head before the last append: lets one UPDATE ... RETURNING both advance the chain and name the link';

CREATE INDEX IF NOT EXISTS accounts_user_id_idx ON finshard.accounts (user_id);
