CREATE TABLE IF NOT EXISTS finshard.users (
    user_id              bigserial   PRIMARY KEY,
    username             text        NOT NULL,
    email                text        NOT NULL,
    password_hash        text        NOT NULL,
    role                 text        NOT NULL DEFAULT 'trader' CHECK (role IN ('trader', 'admin', 'system')),
    pii                  bytea,
    pii_key_version      integer,
    latitude             numeric(9,6) CHECK (latitude BETWEEN -90 AND 90),
    longitude            numeric(9,6) CHECK (longitude BETWEEN -180 AND 180),
    pan_hmac             text,
    pan_last4            text,
    is_active            boolean     NOT NULL DEFAULT true,
    failed_logins        integer     NOT NULL DEFAULT 0,
    last_failed_login_at timestamptz,
    last_login_at        timestamptz,
    failed_window_start  timestamptz,
    locked_until         timestamptz,
    totp_secret          bytea,
    totp_key_version     integer,
    totp_enabled_at      timestamptz,
    totp_last_step       bigint,
    recovery_codes       text[],
    audit_seq            bigint      NOT NULL DEFAULT 0,
    audit_hash           text        NOT NULL DEFAULT '',
    audit_prev_hash      text        NOT NULL DEFAULT '',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE finshard.users IS 'People who log in (seeds 002-004). Reference table on Citus: small, rarely written, joined by every account report, and its unique indexes then hold cluster-wide';
COMMENT ON COLUMN finshard.users.password_hash IS 'bcrypt (pgcrypto crypt/gen_salt(''bf'')); the password itself is never stored';
COMMENT ON COLUMN finshard.users.pii IS 'names, phone and address, encrypted (pgcrypto pgp_sym_encrypt of a JSON object) with the personal-data key of version pii_key_version; finshard.user_profile decrypts them';
COMMENT ON COLUMN finshard.users.pan_hmac IS 'HMAC-SHA256 of the tax id (seed 004 "pan") under the PAN key, which is a file outside the tables: without it the 10^16 possible card numbers cannot be hashed to find a match. Only this and the last 4 characters are kept';
COMMENT ON COLUMN finshard.users.failed_logins IS 'login attempts since the last success within the window that started at failed_window_start (each attempt is counted before it is answered; a success resets it)';
COMMENT ON COLUMN finshard.users.locked_until IS 'logins are refused (FS027) until then: set when failed_logins reaches the setting login_max_failures; finshard.unlock_user clears it';
COMMENT ON COLUMN finshard.users.totp_secret IS 'the TOTP (RFC 6238) secret, encrypted like pii under the personal-data key of version totp_key_version; pending until totp_enabled_at is set by finshard.confirm_mfa';
COMMENT ON COLUMN finshard.users.totp_last_step IS 'the 30-second step of the last TOTP code accepted: a code of that step or an earlier one is refused, so each code is used once';
COMMENT ON COLUMN finshard.users.recovery_codes IS 'sha256 (hex) of the one-time MFA recovery codes not used yet; the codes themselves are shown once, by finshard.confirm_mfa';
COMMENT ON COLUMN finshard.users.audit_hash IS 'head of this user''s login audit chain (finshard.user_audit_log); the system user (0) holds the chain of unknown logins';

-- Seed 002: index on username for login, and on email for email lookups; case-insensitive and unique.
CREATE UNIQUE INDEX IF NOT EXISTS users_username_key ON finshard.users (lower(username));
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON finshard.users (lower(email));
