CREATE OR REPLACE FUNCTION finshard.user_profile(p_user_id bigint, p_session text DEFAULT NULL,
                                                 OUT user_id bigint, OUT username text, OUT email text, OUT role text,
                                                 OUT first_name text, OUT last_name text, OUT phone text,
                                                 OUT address text, OUT pan_last4 text, OUT is_active boolean,
                                                 OUT created_at timestamptz)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user record;
    v_pii  jsonb;
BEGIN
    IF current_query() IS NULL THEN PERFORM finshard._refuse_call('user_profile'); END IF;
    -- Who may do this, for whom: docs/roles.md (personal data: the user, or an admin).
    PERFORM finshard._authorize_user(p_session, p_user_id, 'self_or_admin');
    PERFORM finshard._not_null(p_user_id, 'p_user_id');
    SELECT u.* INTO v_user FROM finshard.users u WHERE u.user_id = p_user_id AND u.role <> 'system';
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS020', format('user %s does not exist', p_user_id));
    END IF;
    v_pii := finshard._decrypt_pii(v_user.pii, v_user.pii_key_version);
    user_id := v_user.user_id;
    username := v_user.username;
    email := v_user.email;
    role := v_user.role;
    first_name := v_pii ->> 'first_name';
    last_name := v_pii ->> 'last_name';
    phone := v_pii ->> 'phone';
    address := v_pii ->> 'address';
    pan_last4 := v_user.pan_last4;
    is_active := v_user.is_active;
    created_at := v_user.created_at;
END
$$;
COMMENT ON FUNCTION finshard.user_profile(bigint, text) IS 'A user''s profile with the personal data decrypted (names, phone, address): for the user''s own session or an admin. Raises FS001, FS020, FS080-FS085, FS090';
REVOKE ALL ON FUNCTION finshard.user_profile(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.user_profile(bigint, text) TO finshard_app, finshard_admin;
