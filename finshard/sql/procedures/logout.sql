CREATE OR REPLACE FUNCTION finshard.logout(p_session text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user bigint;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('logout');
    END IF;
    PERFORM finshard._not_null(p_session, 'p_session');
    -- Only a session that is still valid can log out (an expired or revoked one has nothing to end).
    BEGIN
        v_user := (finshard._caller(p_session)).user_id;
    EXCEPTION WHEN SQLSTATE 'FS082' OR SQLSTATE 'FS083' OR SQLSTATE 'FS084' THEN
        -- A failed logout is audited too, on its user's chain when the token names one (0 when not),
        -- in a transaction of its own; then the same error goes on.
        SELECT s.user_id INTO v_user FROM finshard.sessions s WHERE s.token_hash = sha256(convert_to(p_session, 'UTF8'));
        PERFORM finshard._user_audit_detached(coalesce(v_user, 0), 'logout_failed', jsonb_build_object('sqlstate', SQLSTATE));
        RAISE;
    END;
    UPDATE finshard.sessions SET revoked_at = now()
     WHERE token_hash = sha256(convert_to(p_session, 'UTF8')) AND revoked_at IS NULL;
    PERFORM finshard._user_audit(v_user, 'logout', '{}'::jsonb);
END
$$;
COMMENT ON FUNCTION finshard.logout(text) IS 'Ends session p_session: every later call carrying it is refused (FS084). Audited, failed or not. Raises FS001, FS082-FS084, FS089';
REVOKE ALL ON FUNCTION finshard.logout(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.logout(text) TO finshard_app;
