CREATE TABLE IF NOT EXISTS finshard.sessions (
    token_hash  bytea       PRIMARY KEY,
    user_id     bigint      NOT NULL REFERENCES finshard.users (user_id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
COMMENT ON TABLE finshard.sessions IS 'End users'' sessions (finshard.login). Reference table on Citus: every node checks a token locally, without a read on another node';
COMMENT ON COLUMN finshard.sessions.token_hash IS 'sha256 of the token: the token itself is never stored, so a copy of this table logs nobody in';

CREATE INDEX IF NOT EXISTS sessions_user_idx ON finshard.sessions (user_id);
