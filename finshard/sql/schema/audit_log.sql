CREATE TABLE IF NOT EXISTS finshard.audit_log (
    account_id  bigint      NOT NULL,
    audit_seq   bigint      NOT NULL,
    actor       text        NOT NULL,
    on_behalf_of bigint,
    action      text        NOT NULL,
    details     jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL,
    prev_hash   text        NOT NULL,
    hash        text        NOT NULL,
    PRIMARY KEY (account_id, audit_seq, created_at)
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE finshard.audit_log IS 'Tamper-evident audit log: one hash chain per account (account 0 is the system chain for users, banks, instruments); hash = HMAC-SHA256 under the audit key (a file outside the tables) of prev_hash | account_id | audit_seq | action | details | created_at | actor | on_behalf_of; verify with finshard.audit_verify, and against a signed checkpoint with finshard audit verify --checkpoint';
COMMENT ON COLUMN finshard.audit_log.actor IS 'the login that called, and the role it set with SET ROLE ("login as role"); never the SECURITY DEFINER owner';
COMMENT ON COLUMN finshard.audit_log.on_behalf_of IS 'the end user whose session the call carried; NULL when a database role acted as itself';
COMMENT ON COLUMN finshard.audit_log.details IS 'what was done, with ids and amounts; for changes to a person''s data, which fields changed, never their values';

-- Seed 002: chronological analysis.
CREATE INDEX IF NOT EXISTS audit_log_created_idx ON finshard.audit_log (created_at);
