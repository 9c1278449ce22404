CREATE OR REPLACE FUNCTION finshard.unlock_user(p_user_id bigint, p_session text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_by bigint;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('unlock_user');
    END IF;
    -- Who may do this, for whom: docs/roles.md (an admin user, or finshard_admin).
    v_by := finshard._authorize_user(p_session, p_user_id, 'admin');
    PERFORM finshard._not_null(p_user_id, 'p_user_id');
    IF NOT EXISTS (SELECT 1 FROM finshard.users u WHERE u.user_id = p_user_id AND u.role <> 'system') THEN
        PERFORM finshard.fail('FS020', format('user %s does not exist', p_user_id));
    END IF;
    UPDATE finshard.users SET failed_logins = 0, failed_window_start = NULL, locked_until = NULL WHERE user_id = p_user_id;
    PERFORM finshard._user_audit(p_user_id, 'unlocked', jsonb_strip_nulls(jsonb_build_object('by_user', v_by)));
END
$$;
COMMENT ON FUNCTION finshard.unlock_user(bigint, text) IS 'Lifts a login lockout of user p_user_id and clears its count of attempts: an admin user''s session, or finshard_admin. Raises FS001, FS020, FS080-FS085';
REVOKE ALL ON FUNCTION finshard.unlock_user(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.unlock_user(bigint, text) TO finshard_app, finshard_admin;
