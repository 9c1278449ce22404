CREATE TABLE IF NOT EXISTS finshard.users (
    user_id              bigserial   PRIMARY KEY,
    username             text        NOT NULL,
    email                text        NOT NULL,
    password_hash        text        NOT NULL,
    role                 text        NOT NULL DEFAULT 'trader' CHECK (role IN ('trader', 'admin', 'system')),
    first_name           text,
    last_name            text,
    phone                text,
    address              text,
    latitude             numeric(9,6) CHECK (latitude BETWEEN -90 AND 90),
    longitude            numeric(9,6) CHECK (longitude BETWEEN -180 AND 180),
    pan_hash             text,
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
COMMENT ON COLUMN finshard.users.pan_hash IS 'sha256 of the tax id (seed 004 "pan"); only the hash and the last 4 characters are kept';
COMMENT ON COLUMN finshard.users.failed_logins IS 'failed authenticate() attempts since the last success';

-- Seed 002: index on username for login, and on email for email lookups; case-insensitive and unique.
CREATE UNIQUE INDEX IF NOT EXISTS users_username_key ON finshard.users (lower(username));
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON finshard.users (lower(email));
