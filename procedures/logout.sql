CREATE OR REPLACE FUNCTION finshard.logout(p_session text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user bigint;
BEGIN
    PERFORM finshard._not_null(p_session, 'p_session');
    -- Only a session that is still valid can log out (an expired or revoked one has nothing to end).
    v_user := (finshard._caller(p_session)).user_id;
    UPDATE finshard.sessions SET revoked_at = now()
     WHERE token_hash = sha256(convert_to(p_session, 'UTF8')) AND revoked_at IS NULL;
END
$$;
COMMENT ON FUNCTION finshard.logout(text) IS 'Ends session p_session: every later call carrying it is refused (FS084). Raises FS001, FS082-FS084';
REVOKE ALL ON FUNCTION finshard.logout(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.logout(text) TO finshard_app;
