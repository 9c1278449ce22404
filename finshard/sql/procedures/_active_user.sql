CREATE OR REPLACE FUNCTION finshard._active_user(p_user_id bigint)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_active boolean;
BEGIN
    -- Returns nothing: a table row type as a return type breaks re-installs on Citus workers.
    SELECT u.is_active INTO v_active FROM finshard.users u WHERE u.user_id = p_user_id AND u.role <> 'system';
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS020', format('user %s does not exist', p_user_id));
    END IF;
    IF NOT v_active THEN
        PERFORM finshard.fail('FS021', format('user %s is deactivated', p_user_id));
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._active_user(bigint) IS 'Checks that user p_user_id exists and is active; raises FS020 when unknown, FS021 when deactivated';
REVOKE ALL ON FUNCTION finshard._active_user(bigint) FROM PUBLIC;
