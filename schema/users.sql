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
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE finshard.users IS 'People who log in (seeds 002-004). Reference table on Citus: small, rarely written, joined by every account report, and its unique indexes then hold cluster-wide';
COMMENT ON COLUMN finshard.users.password_hash IS 'bcrypt (pgcrypto crypt/gen_salt(''bf'')); the password itself is never stored';
COMMENT ON COLUMN finshard.users.pii IS 'names, phone and address, encrypted (pgcrypto pgp_sym_encrypt of a JSON object) with the personal-data key of version pii_key_version; finshard.user_profile decrypts them';
COMMENT ON COLUMN finshard.users.pan_hmac IS 'HMAC-SHA256 of the tax id (seed 004 "pan") under the PAN key, which is a file outside the tables: without it the 10^16 possible card numbers cannot be hashed to find a match. Only this and the last 4 characters are kept';
COMMENT ON COLUMN finshard.users.failed_logins IS 'failed authenticate() attempts since the last success';

-- Seed 002: index on username for login, and on email for email lookups; case-insensitive and unique.
CREATE UNIQUE INDEX IF NOT EXISTS users_username_key ON finshard.users (lower(username));
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON finshard.users (lower(email));
