CREATE OR REPLACE FUNCTION finshard.update_user(p_user_id bigint,
                                                p_email text DEFAULT NULL,
                                                p_password text DEFAULT NULL,
                                                p_first_name text DEFAULT NULL,
                                                p_last_name text DEFAULT NULL,
                                                p_phone text DEFAULT NULL,
                                                p_address text DEFAULT NULL,
                                                p_role text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM finshard._not_null(p_user_id, 'p_user_id');
    PERFORM finshard._active_user(p_user_id);
    IF p_email IS NOT NULL AND (p_email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' OR length(p_email) > 254) THEN
        PERFORM finshard.fail('FS025', format('email %L is not a valid address', left(p_email, 300)));
    END IF;
    IF p_password IS NOT NULL AND (length(p_password) < 8 OR octet_length(p_password) > 72) THEN
        PERFORM finshard.fail('FS025', format('password must be 8 to 72 bytes long, not %s', octet_length(p_password)));
    END IF;
    IF p_role IS NOT NULL AND p_role NOT IN ('trader', 'admin') THEN
        PERFORM finshard.fail('FS025', format('role %L is not trader or admin', p_role));
    END IF;
    IF p_email IS NOT NULL AND EXISTS (SELECT 1 FROM finshard.users u
                                        WHERE lower(u.email) = lower(p_email) AND u.user_id <> p_user_id) THEN
        PERFORM finshard.fail('FS023', format('email %s is already registered', p_email));
    END IF;
    PERFORM finshard._check_text(p_first_name, 'p_first_name', 100);
    PERFORM finshard._check_text(p_last_name, 'p_last_name', 100);
    PERFORM finshard._check_text(p_phone, 'p_phone', 32);
    PERFORM finshard._check_text(p_address, 'p_address', 500);
    UPDATE finshard.users
       SET email = coalesce(lower(p_email), email),
           password_hash = CASE WHEN p_password IS NULL THEN password_hash
                                ELSE public.crypt(p_password, public.gen_salt('bf', 10)) END,
           first_name = coalesce(p_first_name, first_name),
           last_name = coalesce(p_last_name, last_name),
           phone = coalesce(p_phone, phone),
           address = coalesce(p_address, address),
           role = coalesce(p_role, role),
           updated_at = now()
     WHERE user_id = p_user_id;
    PERFORM finshard._audit(0, 'update_user', jsonb_strip_nulls(jsonb_build_object(
        'user_id', p_user_id, 'email', p_email, 'password_changed', p_password IS NOT NULL, 'role', p_role,
        'first_name', p_first_name, 'last_name', p_last_name, 'phone', p_phone, 'address', p_address)));
END
$$;
COMMENT ON FUNCTION finshard.update_user(bigint, text, text, text, text, text, text, text) IS 'Updates the given (non-NULL) fields of an active user. Raises FS001, FS006, FS020, FS021, FS023, FS025';
REVOKE ALL ON FUNCTION finshard.update_user(bigint, text, text, text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.update_user(bigint, text, text, text, text, text, text, text) TO finshard_app;
