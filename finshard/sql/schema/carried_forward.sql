-- What retired months leave to the books: retire_partitions drops a month of the ledger and of the
-- audit log only after carrying each account's state at its end here, so that ledger_verify,
-- audit_verify and statements still start from the right place. One row per account that had
-- entries in a retired month; colocated with accounts on Citus.
CREATE TABLE IF NOT EXISTS finshard.carried_forward (
    account_id     bigint      PRIMARY KEY,
    ledger_through timestamptz,
    entry_seq      bigint      NOT NULL DEFAULT 0,
    balance        numeric     NOT NULL DEFAULT 0,
    deposits       numeric     NOT NULL DEFAULT 0,
    withdrawals    numeric     NOT NULL DEFAULT 0,
    sales          numeric     NOT NULL DEFAULT 0,
    purchases      numeric     NOT NULL DEFAULT 0,
    fees           numeric     NOT NULL DEFAULT 0,
    audit_through  timestamptz,
    audit_seq      bigint      NOT NULL DEFAULT 0,
    audit_hash     text        NOT NULL DEFAULT '',
    mac            text        NOT NULL DEFAULT ''
);
COMMENT ON TABLE finshard.carried_forward IS 'Per account, the state at the end of its last retired month (finshard.retire_partitions): the last retired ledger entry (entry_seq, balance), the retired deposits, withdrawals, trade sales and purchases and fees (positive sums), and the last retired audit entry (audit_seq, audit_hash), which the first entry kept must follow; mac = HMAC-SHA256 under the audit key of all of it (finshard.audit_verify checks it)';
COMMENT ON COLUMN finshard.carried_forward.ledger_through IS 'end of the last retired month that held entries of the account; NULL when none did';
COMMENT ON COLUMN finshard.carried_forward.audit_through IS 'end of the last retired month that held audit entries of the account; NULL when none did';
