CREATE OR REPLACE FUNCTION finshard.authenticate(p_login text, p_password text)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user finshard.users;
BEGIN
    PERFORM finshard._not_null(p_login, 'p_login');
    PERFORM finshard._not_null(p_password, 'p_password');
    SELECT * INTO v_user FROM finshard.users u
     WHERE (lower(u.username) = lower(p_login) OR lower(u.email) = lower(p_login)) AND u.role <> 'system';
    -- Unknown login and wrong password give the same error: the caller learns nothing about which.
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS024', format('login %s failed: unknown login or wrong password', left(p_login, 100)));
    END IF;
    IF NOT v_user.is_active THEN
        PERFORM finshard.fail('FS021', format('user %s is deactivated', v_user.user_id));
    END IF;
    IF v_user.password_hash <> public.crypt(p_password, v_user.password_hash) THEN
        PERFORM finshard._record_failed_login(v_user.user_id);
        PERFORM finshard.fail('FS024', format('login %s failed: unknown login or wrong password', left(p_login, 100)));
    END IF;
    IF v_user.failed_logins > 0 OR v_user.last_login_at IS NULL OR v_user.last_login_at < now() - interval '1 hour' THEN
        UPDATE finshard.users SET failed_logins = 0, last_login_at = now() WHERE user_id = v_user.user_id;
    END IF;
    RETURN v_user.user_id;
END
$$;
COMMENT ON FUNCTION finshard.authenticate(text, text) IS 'Checks a username or email and password; returns user_id. Raises FS024 (wrong login or password, and records the failure), FS021 (deactivated)';
REVOKE ALL ON FUNCTION finshard.authenticate(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.authenticate(text, text) TO finshard_app;
