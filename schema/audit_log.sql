CREATE TABLE IF NOT EXISTS finshard.audit_log (
    account_id  bigint      NOT NULL,
    audit_seq   bigint      NOT NULL,
    actor       text        NOT NULL DEFAULT session_user,
    action      text        NOT NULL,
    details     jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL,
    prev_hash   text        NOT NULL,
    hash        text        NOT NULL,
    PRIMARY KEY (account_id, audit_seq, created_at)
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE finshard.audit_log IS 'Tamper-evident audit log: one hash chain per account (account 0 is the system chain for users, banks, instruments); hash = sha256(prev_hash | account_id | audit_seq | action | details | created_at); verify with finshard.audit_verify';
COMMENT ON COLUMN finshard.audit_log.actor IS 'session_user of the call (the login role, not the SECURITY DEFINER owner)';

-- Seed 002: chronological analysis.
CREATE INDEX IF NOT EXISTS audit_log_created_idx ON finshard.audit_log (created_at);
