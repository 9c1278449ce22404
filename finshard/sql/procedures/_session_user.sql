CREATE OR REPLACE FUNCTION finshard._session_user(p_session text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_user bigint;
BEGIN
    -- An end user's own duty (their MFA): a database role, even finshard_admin, has none to act on.
    v_user := (finshard._caller(p_session)).user_id;
    IF v_user IS NULL THEN
        PERFORM finshard.fail('FS081', format('role %s acts for no end user here: pass the user''s p_session', finshard._actor()));
    END IF;
    RETURN v_user;
END
$$;
COMMENT ON FUNCTION finshard._session_user(text) IS 'The end user of session p_session, for duties only that user may do (a database role without a session is refused). Raises FS081-FS084';
REVOKE ALL ON FUNCTION finshard._session_user(text) FROM PUBLIC;
