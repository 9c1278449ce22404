CREATE OR REPLACE FUNCTION finshard._authorize_user(p_session text, p_user_id bigint, p_rule text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_caller record;
BEGIN
    -- Rules: self_or_admin = that user or an admin user; read = the same, and finshard_readonly may
    -- read without a session; admin = an admin user.
    v_caller := finshard._caller(p_session, p_rule = 'read');
    IF v_caller.user_id IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_user_id IS NULL THEN
        PERFORM finshard.fail('FS001', 'the user id is NULL');
    END IF;
    IF p_rule = 'admin' AND NOT v_caller.is_admin THEN
        PERFORM finshard.fail('FS080', format('user %s is not an admin', v_caller.user_id));
    END IF;
    IF p_user_id <> v_caller.user_id AND NOT v_caller.is_admin THEN
        IF NOT EXISTS (SELECT 1 FROM finshard.users u WHERE u.user_id = p_user_id) THEN
            PERFORM finshard.fail('FS020', format('user %s does not exist', p_user_id));
        END IF;
        PERFORM finshard.fail('FS085', format('user %s may not act for user %s', v_caller.user_id, p_user_id));
    END IF;
    RETURN v_caller.user_id;
END
$$;
COMMENT ON FUNCTION finshard._authorize_user(text, bigint, text) IS 'Checks that session p_session may act for user p_user_id under p_rule (self_or_admin, read, admin); returns the end user, NULL for a database role acting as itself. Raises FS001, FS020, FS080-FS085';
REVOKE ALL ON FUNCTION finshard._authorize_user(text, bigint, text) FROM PUBLIC;
