CREATE OR REPLACE FUNCTION finshard.enroll_mfa(p_session text, p_password text, OUT secret text, OUT uri text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user     bigint;
    v_username text;
    v_enabled  timestamptz;
    v_raw      bytea;
    v_enc      record;
    v_issuer   text := coalesce((SELECT s.value FROM finshard.settings s WHERE s.key = 'mfa_issuer'), 'finshard');
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('enroll_mfa');
    END IF;
    -- Who may do this, for whom: docs/roles.md (the user's own session only).
    v_user := finshard._session_user(p_session);
    PERFORM finshard._not_null(p_password, 'p_password');
    SELECT u.username, u.totp_enabled_at INTO v_username, v_enabled FROM finshard.users u WHERE u.user_id = v_user;
    IF v_enabled IS NOT NULL THEN
        PERFORM finshard.fail('FS086', format('user %s has MFA on already: turn it off first (finshard.disable_mfa)', v_user));
    END IF;
    -- The password again, counted and audited like a login: a session left open on someone's
    -- screen must not be enough to put a second factor (someone else's phone) on the account.
    PERFORM finshard.authenticate(v_username, p_password);
    -- 160 bits (RFC 4226's recommendation for HMAC-SHA-1), encrypted like personal data. Computed
    -- first: Citus refuses volatile functions inside a write to a reference table.
    v_raw := public.gen_random_bytes(20);
    v_enc := finshard._encrypt_pii(jsonb_build_object('totp', encode(v_raw, 'hex')));
    UPDATE finshard.users
       SET totp_secret = v_enc.pii, totp_key_version = v_enc.key_version, totp_enabled_at = NULL, totp_last_step = NULL,
           recovery_codes = NULL, updated_at = now()
     WHERE user_id = v_user;
    secret := finshard._base32(v_raw);
    uri := format('otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=6&period=30',
                  finshard._uri_encode(v_issuer), finshard._uri_encode(v_username), secret, finshard._uri_encode(v_issuer));
    PERFORM finshard._user_audit(v_user, 'mfa_enrolled', '{}'::jsonb);
END
$$;
COMMENT ON FUNCTION finshard.enroll_mfa(text, text) IS 'Starts MFA for the session''s user, who gives the password again: returns a new TOTP secret (base32) and its otpauth:// URI (SHA-1, 6 digits, 30 s) for an authenticator app; logins need a code once finshard.confirm_mfa has seen one. Raises FS001, FS024, FS027, FS081-FS084, FS086, FS089';
REVOKE ALL ON FUNCTION finshard.enroll_mfa(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.enroll_mfa(text, text) TO finshard_app;
