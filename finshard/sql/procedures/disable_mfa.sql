CREATE OR REPLACE FUNCTION finshard.disable_mfa(p_session text, p_password text, p_code text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user     bigint;
    v_username text;
    v_enabled  timestamptz;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('disable_mfa');
    END IF;
    -- Who may do this, for whom: docs/roles.md (the user's own session only).
    v_user := finshard._session_user(p_session);
    PERFORM finshard._not_null(p_password, 'p_password');
    PERFORM finshard._not_null(p_code, 'p_code');
    SELECT u.username, u.totp_enabled_at INTO v_username, v_enabled FROM finshard.users u WHERE u.user_id = v_user;
    IF v_enabled IS NULL THEN
        PERFORM finshard.fail('FS086', format('user %s has no MFA to turn off', v_user));
    END IF;
    -- Both factors, checked as a login checks them (counted, locked, audited, the code used up):
    -- a stolen session alone cannot take the second factor off, nor guess codes without end.
    PERFORM finshard.authenticate(v_username, p_password, p_code);
    UPDATE finshard.users
       SET totp_secret = NULL, totp_key_version = NULL, totp_enabled_at = NULL, totp_last_step = NULL, recovery_codes = NULL,
           updated_at = now()
     WHERE user_id = v_user;
    PERFORM finshard._user_audit(v_user, 'mfa_disabled', '{}'::jsonb);
END
$$;
COMMENT ON FUNCTION finshard.disable_mfa(text, text, text) IS 'Turns MFA off for the session''s user, who gives the password and a current code (or a recovery code). Raises FS001, FS024, FS027, FS029, FS081-FS084, FS086, FS089';
REVOKE ALL ON FUNCTION finshard.disable_mfa(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.disable_mfa(text, text, text) TO finshard_app;
