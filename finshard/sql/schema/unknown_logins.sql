CREATE TABLE IF NOT EXISTS finshard.unknown_logins (
    login_hmac           text        PRIMARY KEY,
    failed_logins        integer     NOT NULL DEFAULT 0,
    failed_window_start  timestamptz NOT NULL,
    last_failed_login_at timestamptz NOT NULL,
    locked_until         timestamptz
);
COMMENT ON TABLE finshard.unknown_logins IS 'Failed-attempt counts of logins that name no user, so that they lock like a real user''s (FS027) and the lock does not tell who exists. Rows expire (pruned once their window and lock are over). Reference table on Citus, like users';
COMMENT ON COLUMN finshard.unknown_logins.login_hmac IS 'HMAC-SHA256 under the PAN key of the lower-cased login: the text typed is not kept, and cannot be found by hashing guesses without the key';

CREATE INDEX IF NOT EXISTS unknown_logins_last_idx ON finshard.unknown_logins (last_failed_login_at);
