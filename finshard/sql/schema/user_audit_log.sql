CREATE TABLE IF NOT EXISTS finshard.user_audit_log (
    user_id     bigint      NOT NULL,
    audit_seq   bigint      NOT NULL,
    actor       text        NOT NULL,
    action      text        NOT NULL,
    details     jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL,
    prev_hash   text        NOT NULL,
    hash        text        NOT NULL,
    PRIMARY KEY (user_id, audit_seq)
);
COMMENT ON TABLE finshard.user_audit_log IS 'Tamper-evident log of logins, logouts, lockouts and MFA changes: one hash chain per user (user 0, the system user, chains the attempts on unknown logins); hash = HMAC-SHA256 under the audit key of ''user'' | prev_hash | user_id | audit_seq | action | details | created_at | actor; the head lives on the users row. Reference table on Citus, like users and sessions, which the same logins write. finshard.audit_verify checks it with the account chains';
COMMENT ON COLUMN finshard.user_audit_log.actor IS 'the login that called, and the role it set with SET ROLE; never the SECURITY DEFINER owner, also for entries written over the loopback connection';
COMMENT ON COLUMN finshard.user_audit_log.details IS 'outcome and reason (never a password or a code); for an unknown login, a keyed hash of the login text, not the text (it may be a password typed in the wrong field)';

CREATE INDEX IF NOT EXISTS user_audit_log_created_idx ON finshard.user_audit_log (created_at);
