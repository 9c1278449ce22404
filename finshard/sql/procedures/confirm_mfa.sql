CREATE OR REPLACE FUNCTION finshard.confirm_mfa(p_session text, p_code text)
RETURNS text[]
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user    bigint;
    v_row     record;
    v_step    bigint;
    v_codes   text[];
    v_hashes  text[];
    v_raw     text;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('confirm_mfa');
    END IF;
    -- Who may do this, for whom: docs/roles.md (the user's own session only).
    v_user := finshard._session_user(p_session);
    PERFORM finshard._not_null(p_code, 'p_code');
    SELECT u.totp_secret, u.totp_key_version, u.totp_enabled_at INTO v_row FROM finshard.users u WHERE u.user_id = v_user;
    IF v_row.totp_secret IS NULL OR v_row.totp_enabled_at IS NOT NULL THEN
        PERFORM finshard.fail('FS086', format('user %s has no MFA enrolment waiting for its first code: run finshard.enroll_mfa', v_user));
    END IF;
    -- The first code proves the app holds the secret before logins depend on it.
    v_step := finshard._totp_step(decode(finshard._decrypt_pii(v_row.totp_secret, v_row.totp_key_version) ->> 'totp', 'hex'), p_code, NULL);
    IF v_step IS NULL THEN
        PERFORM finshard.fail('FS029', format('the code for user %s is wrong or expired: enter the one the app shows now', v_user));
    END IF;
    -- Ten recovery codes of 50 random bits, shown this once; only their keyed hashes are kept.
    FOR i IN 1 .. 10 LOOP
        v_raw := left(finshard._base32(public.gen_random_bytes(7)), 10);
        v_codes := v_codes || (left(v_raw, 5) || '-' || right(v_raw, 5));
    END LOOP;
    v_hashes := ARRAY(SELECT finshard._recovery_hash(c) FROM unnest(v_codes) c);
    UPDATE finshard.users
       SET totp_enabled_at = now(), totp_last_step = v_step, updated_at = now(), recovery_codes = v_hashes
     WHERE user_id = v_user;
    -- Sessions opened before MFA was on end, but this one.
    UPDATE finshard.sessions SET revoked_at = now()
     WHERE user_id = v_user AND revoked_at IS NULL AND token_hash <> sha256(convert_to(p_session, 'UTF8'));
    PERFORM finshard._user_audit(v_user, 'mfa_enabled', jsonb_build_object('recovery_codes', cardinality(v_codes)));
    RETURN v_codes;
END
$$;
COMMENT ON FUNCTION finshard.confirm_mfa(text, text) IS 'Turns MFA on for the session''s user with a first code from the app (finshard.enroll_mfa''s secret); returns 10 one-time recovery codes, shown only here, and ends the user''s other sessions. Raises FS001, FS029, FS081-FS084, FS086';
REVOKE ALL ON FUNCTION finshard.confirm_mfa(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.confirm_mfa(text, text) TO finshard_app;
