CREATE OR REPLACE FUNCTION finshard.deactivate_user(p_user_id bigint)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM finshard._not_null(p_user_id, 'p_user_id');
    PERFORM finshard._active_user(p_user_id);
    UPDATE finshard.users SET is_active = false, updated_at = now() WHERE user_id = p_user_id;
    PERFORM finshard._audit(0, 'deactivate_user', jsonb_build_object('user_id', p_user_id));
END
$$;
COMMENT ON FUNCTION finshard.deactivate_user(bigint) IS 'Deactivates a user: no more logins or new accounts (existing accounts keep their money). Raises FS001, FS020, FS021';
REVOKE ALL ON FUNCTION finshard.deactivate_user(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.deactivate_user(bigint) TO finshard_app;
