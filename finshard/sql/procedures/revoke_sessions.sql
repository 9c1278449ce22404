CREATE OR REPLACE FUNCTION finshard.revoke_sessions(p_user_id bigint, p_session text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('revoke_sessions');
    END IF;
    -- Who may do this, for whom: docs/roles.md (the user, "log out everywhere", or an admin).
    PERFORM finshard._authorize_user(p_session, p_user_id, 'self_or_admin');
    PERFORM finshard._not_null(p_user_id, 'p_user_id');
    IF NOT EXISTS (SELECT 1 FROM finshard.users u WHERE u.user_id = p_user_id AND u.role <> 'system') THEN
        PERFORM finshard.fail('FS020', format('user %s does not exist', p_user_id));
    END IF;
    UPDATE finshard.sessions SET revoked_at = now() WHERE user_id = p_user_id AND revoked_at IS NULL;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM finshard._audit(0, 'revoke_sessions', jsonb_build_object('user_id', p_user_id, 'sessions', v_count));
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION finshard.revoke_sessions(bigint, text) IS 'Ends every session of user p_user_id (the user''s own session may, or an admin); returns how many. Raises FS001, FS020, FS080-FS085';
REVOKE ALL ON FUNCTION finshard.revoke_sessions(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.revoke_sessions(bigint, text) TO finshard_app, finshard_admin;
