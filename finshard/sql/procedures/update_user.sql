-- The current password (and code, with MFA) became parameters: the old signature goes.
DROP FUNCTION IF EXISTS finshard.update_user(bigint, text, text, text, text, text, text, text, text);
CREATE OR REPLACE FUNCTION finshard.update_user(p_user_id bigint,
                                                p_email text DEFAULT NULL,
                                                p_password text DEFAULT NULL,
                                                p_first_name text DEFAULT NULL,
                                                p_last_name text DEFAULT NULL,
                                                p_phone text DEFAULT NULL,
                                                p_address text DEFAULT NULL,
                                                p_role text DEFAULT NULL,
                                                p_session text DEFAULT NULL,
                                                p_current_password text DEFAULT NULL,
                                                p_otp text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_caller bigint;
    v_user   record;
    v_pii    jsonb;
    v_new    record;
    v_hash   text;
    v_fields text[];
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('update_user');
    END IF;
    -- Who may do this, for whom: docs/roles.md. The role is an admin duty.
    v_caller := finshard._authorize_user(p_session, p_user_id, 'self_or_admin');
    IF p_role IS NOT NULL AND p_session IS NOT NULL THEN
        PERFORM finshard._authorize_user(p_session, p_user_id, 'admin');
    END IF;
    -- A password is its user's own: an admin who set another's could log in as them and move
    -- their money. An admin user revokes sessions or deactivates instead.
    IF p_password IS NOT NULL AND v_caller IS NOT NULL AND v_caller <> p_user_id THEN
        PERFORM finshard.fail('FS080', format('user %s may not set the password of user %s', v_caller, p_user_id));
    END IF;
    PERFORM finshard._not_null(p_user_id, 'p_user_id');
    PERFORM finshard._active_user(p_user_id);
    -- The user's own credentials, changed through the user's own session: the current password
    -- too (and a code, with MFA), counted as a login attempt. A session left open on someone's
    -- screen, or stolen, must not be enough to take the login over.
    IF v_caller = p_user_id AND (p_password IS NOT NULL OR p_email IS NOT NULL) THEN
        PERFORM finshard._not_null(p_current_password, 'p_current_password');
        PERFORM finshard.authenticate((SELECT u.username FROM finshard.users u WHERE u.user_id = p_user_id),
                                      p_current_password, p_otp);
    END IF;
    IF p_email IS NOT NULL AND (p_email !~ '^[^@\s[:cntrl:]]+@[^@\s[:cntrl:]]+\.[^@\s[:cntrl:]]+$' OR length(p_email) > 254) THEN
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
    SELECT u.pii, u.pii_key_version INTO v_user FROM finshard.users u WHERE u.user_id = p_user_id;
    -- Every new value is computed here, not in the UPDATE: Citus refuses volatile functions
    -- (gen_salt, the encryption's random salt) inside a write to a reference table.
    v_pii := finshard._decrypt_pii(v_user.pii, v_user.pii_key_version)
             || jsonb_strip_nulls(jsonb_build_object('first_name', p_first_name, 'last_name', p_last_name,
                                                     'phone', p_phone, 'address', p_address));
    v_new := finshard._encrypt_pii(v_pii);
    IF p_password IS NOT NULL THEN
        v_hash := public.crypt(p_password, public.gen_salt('bf', 10));
    END IF;
    UPDATE finshard.users
       SET email = coalesce(lower(p_email), email),
           password_hash = coalesce(v_hash, password_hash),
           pii = v_new.pii,
           pii_key_version = v_new.key_version,
           role = coalesce(p_role, role),
           updated_at = now()
     WHERE user_id = p_user_id;
    -- A new password ends every session of the user (a stolen one included).
    IF p_password IS NOT NULL THEN
        UPDATE finshard.sessions SET revoked_at = now() WHERE user_id = p_user_id AND revoked_at IS NULL;
    END IF;
    -- Which fields changed, never their values (the role is not personal data: it is kept).
    v_fields := array_remove(ARRAY[CASE WHEN p_email IS NOT NULL THEN 'email' END,
                                   CASE WHEN p_password IS NOT NULL THEN 'password' END,
                                   CASE WHEN p_first_name IS NOT NULL THEN 'first_name' END,
                                   CASE WHEN p_last_name IS NOT NULL THEN 'last_name' END,
                                   CASE WHEN p_phone IS NOT NULL THEN 'phone' END,
                                   CASE WHEN p_address IS NOT NULL THEN 'address' END,
                                   CASE WHEN p_role IS NOT NULL THEN 'role' END], NULL);
    PERFORM finshard._audit(0, 'update_user', jsonb_strip_nulls(jsonb_build_object(
        'user_id', p_user_id, 'fields', to_jsonb(v_fields), 'role', p_role)));
END
$$;
COMMENT ON FUNCTION finshard.update_user(bigint, text, text, text, text, text, text, text, text, text, text) IS 'Updates the given (non-NULL) fields of an active user: the user''s own session, or an admin''s; the role only an admin. A new password or email through the user''s own session needs p_current_password (and p_otp with MFA), checked as a login. A new password revokes the user''s sessions. Raises FS001, FS006, FS020, FS021, FS023-FS025, FS027-FS029, FS080-FS085, FS089, FS090';
REVOKE ALL ON FUNCTION finshard.update_user(bigint, text, text, text, text, text, text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.update_user(bigint, text, text, text, text, text, text, text, text, text, text) TO finshard_app, finshard_admin;
