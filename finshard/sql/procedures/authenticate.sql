-- The two-argument form of earlier installs would make calls with two arguments ambiguous.
DROP FUNCTION IF EXISTS finshard.authenticate(text, text);
CREATE OR REPLACE FUNCTION finshard.authenticate(p_login text, p_password text, p_otp text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- bcrypt of a password nobody has, at create_user's cost (10): a login naming nobody, or a
    -- deactivated user, costs the same bcrypt as a real one, and answers the same.
    c_dummy   CONSTANT text := '$2a$10$nHuRAEiBKO.NHI1pUdbP6OfsYAsm9QYVEvCg6ekbVvd00VYvggIYa';
    v_user    record;
    v_known   boolean;
    v_hmac    text;
    v_attempt jsonb;
    v_ok      boolean;
    v_step    bigint;
    v_recovery text;
    v_reason  text;
BEGIN
    IF current_query() IS NULL THEN PERFORM finshard._refuse_call('authenticate'); END IF;
    PERFORM finshard._not_null(p_login, 'p_login');
    PERFORM finshard._not_null(p_password, 'p_password');
    SELECT u.user_id, u.password_hash, u.is_active, u.totp_enabled_at INTO v_user FROM finshard.users u
     WHERE (lower(u.username) = lower(p_login) OR lower(u.email) = lower(p_login)) AND u.role <> 'system';
    v_known := FOUND;
    v_hmac := encode(public.hmac(convert_to(lower(p_login), 'UTF8'), finshard._key('pan'), 'sha256'), 'hex');
    v_ok := public.crypt(p_password, coalesce(v_user.password_hash, c_dummy)) = coalesce(v_user.password_hash, c_dummy);
    -- The code is matched whatever the password: a right password must not take longer to reach
    -- the count than a wrong one (a caller cancelling in between would learn it uncounted).
    IF v_known AND v_user.totp_enabled_at IS NOT NULL THEN
        SELECT m.step, m.recovery INTO v_step, v_recovery FROM finshard._mfa_match(v_user.user_id, p_otp) m;
    END IF;
    IF NOT (v_known AND v_ok AND v_user.is_active) THEN
        v_reason := CASE WHEN NOT v_known THEN 'unknown' WHEN NOT v_ok THEN 'password' ELSE 'inactive' END;
    ELSIF v_user.totp_enabled_at IS NOT NULL THEN
        v_reason := CASE WHEN p_otp IS NULL THEN 'otp_missing' WHEN v_step IS NULL AND v_recovery IS NULL THEN 'otp' END;
    END IF;
    -- Counted, or reset by a success, in a transaction of its own before anything is answered
    -- (docs/security.md): a caller's rollback neither undoes a failure nor keeps a success counted.
    v_attempt := finshard._login_attempt(v_user.user_id, CASE WHEN NOT v_known THEN v_hmac END, v_reason IS NULL);
    IF (v_attempt ->> 'locked')::boolean THEN
        -- Locked: refused whatever the password, and a login naming nobody locks the same way.
        v_reason := 'locked';
    END IF;
    IF v_reason IS NULL AND (current_setting('transaction_read_only') = 'on'
                             OR current_setting('transaction_isolation') <> 'read committed') THEN
        -- The attempt is counted (in a transaction of its own); a login that succeeds writes here.
        PERFORM finshard._refuse_call('authenticate');
    END IF;
    IF v_reason IS NULL THEN
        -- A success resets the count. The code's step (or the recovery code) is consumed here, only
        -- if no concurrent login consumed it first: the row lock orders them, the WHERE decides.
        UPDATE finshard.users u
           SET failed_logins = 0, failed_window_start = NULL, locked_until = NULL, last_login_at = now(),
               totp_last_step = coalesce(v_step, u.totp_last_step),
               recovery_codes = CASE WHEN v_recovery IS NULL THEN u.recovery_codes
                                     ELSE array_remove(u.recovery_codes, v_recovery) END
         WHERE u.user_id = v_user.user_id
           AND (v_step IS NULL OR coalesce(u.totp_last_step, -1) < v_step)
           AND (v_recovery IS NULL OR v_recovery = ANY (u.recovery_codes));
        IF NOT FOUND THEN
            v_reason := 'otp';
        END IF;
    END IF;
    IF v_reason IS NOT NULL THEN
        -- Audited in a transaction of its own: the rejection below rolls this one back.
        PERFORM finshard._user_audit_detached(coalesce(v_user.user_id, 0), 'login_failed',
            jsonb_strip_nulls(jsonb_build_object('reason', v_reason, 'attempts', v_attempt -> 'attempts',
                'locked_until', v_attempt -> 'locked_until', 'login_hmac', CASE WHEN NOT v_known THEN v_hmac END)));
        CASE v_reason
            WHEN 'locked' THEN
                PERFORM finshard.fail('FS027', format('login %s is locked until %s: too many attempts', left(p_login, 100),
                                                      (v_attempt ->> 'locked_until')::timestamptz));
            WHEN 'otp_missing' THEN
                PERFORM finshard.fail('FS028', format('login %s needs a one-time code (p_otp)', left(p_login, 100)));
            WHEN 'otp' THEN
                PERFORM finshard.fail('FS029', format('login %s failed: the one-time code is wrong, expired or used', left(p_login, 100)));
            ELSE
                -- Unknown login, wrong password, deactivated user: one code, one message.
                PERFORM finshard.fail('FS024', format('login %s failed: unknown login or wrong password', left(p_login, 100)));
        END CASE;
    END IF;
    PERFORM finshard._user_audit(v_user.user_id, 'authenticated',
        jsonb_build_object('second_factor', CASE WHEN v_step IS NOT NULL THEN 'totp'
                                                 WHEN v_recovery IS NOT NULL THEN 'recovery_code' ELSE 'none' END));
    RETURN v_user.user_id;
END
$$;
COMMENT ON FUNCTION finshard.authenticate(text, text, text) IS 'Checks a username or email, its password and, for a user with MFA, the one-time code p_otp (TOTP or a recovery code); returns user_id. Every attempt is counted, or the count reset by a success, before it is answered; login_max_failures attempts without a success within login_failure_window lock the login for login_lockout. Raises FS001, FS024 (unknown login, wrong password or deactivated user, alike), FS027 (locked), FS028 (code needed), FS029 (wrong or used code), FS089';
REVOKE ALL ON FUNCTION finshard.authenticate(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.authenticate(text, text, text) TO finshard_app;
