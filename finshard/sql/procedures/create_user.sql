CREATE OR REPLACE FUNCTION finshard.create_user(p_username text,
                                                p_email text,
                                                p_password text,
                                                p_role text DEFAULT 'trader',
                                                p_first_name text DEFAULT NULL,
                                                p_last_name text DEFAULT NULL,
                                                p_phone text DEFAULT NULL,
                                                p_address text DEFAULT NULL,
                                                p_pan text DEFAULT NULL,
                                                p_session text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user_id    bigint;
    v_constraint text;
    v_is_admin   boolean;
    v_hash       text;
    v_pii        record;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('create_user');
    END IF;
    -- Sign-up needs no session; making an admin is an admin's duty (docs/roles.md).
    IF p_session IS NOT NULL THEN
        SELECT c.is_admin INTO v_is_admin FROM finshard._caller(p_session) c;
    ELSE
        PERFORM pg_catalog.set_config('finshard.on_behalf_of', '', true);
    END IF;
    IF p_role = 'admin' AND NOT coalesce(v_is_admin,
                                         pg_catalog.pg_has_role(finshard._actor(), 'finshard_admin', 'MEMBER')) THEN
        PERFORM finshard.fail('FS080', 'only an admin may create an admin user');
    END IF;
    PERFORM finshard._not_null(p_username, 'p_username');
    PERFORM finshard._not_null(p_email, 'p_email');
    PERFORM finshard._not_null(p_password, 'p_password');
    PERFORM finshard._not_null(p_role, 'p_role');
    IF p_username !~ '^[A-Za-z0-9_.-]{3,64}$' THEN
        PERFORM finshard.fail('FS025', format('username %L must be 3-64 characters of A-Z a-z 0-9 _ . -', left(p_username, 100)));
    END IF;
    IF p_email !~ '^[^@\s[:cntrl:]]+@[^@\s[:cntrl:]]+\.[^@\s[:cntrl:]]+$' OR length(p_email) > 254 THEN
        PERFORM finshard.fail('FS025', format('email %L is not a valid address', left(p_email, 300)));
    END IF;
    -- bcrypt reads at most 72 bytes: a longer password would be silently truncated.
    IF length(p_password) < 8 OR octet_length(p_password) > 72 THEN
        PERFORM finshard.fail('FS025', format('password must be 8 to 72 bytes long, not %s', octet_length(p_password)));
    END IF;
    IF p_role NOT IN ('trader', 'admin') THEN
        PERFORM finshard.fail('FS025', format('role %L is not trader or admin', p_role));
    END IF;
    PERFORM finshard._check_text(p_first_name, 'p_first_name', 100);
    PERFORM finshard._check_text(p_last_name, 'p_last_name', 100);
    PERFORM finshard._check_text(p_phone, 'p_phone', 32);
    PERFORM finshard._check_text(p_address, 'p_address', 500);
    PERFORM finshard._check_text(p_pan, 'p_pan', 32);
    IF EXISTS (SELECT 1 FROM finshard.users u WHERE lower(u.username) = lower(p_username)) THEN
        PERFORM finshard.fail('FS022', format('username %s is taken', p_username));
    END IF;
    IF EXISTS (SELECT 1 FROM finshard.users u WHERE lower(u.email) = lower(p_email)) THEN
        PERFORM finshard.fail('FS023', format('email %s is already registered', p_email));
    END IF;
    -- Computed first: Citus refuses volatile functions inside a write to a reference table.
    v_hash := public.crypt(p_password, public.gen_salt('bf', 10));
    v_pii := finshard._encrypt_pii(jsonb_strip_nulls(jsonb_build_object('first_name', p_first_name, 'last_name', p_last_name,
                                                                         'phone', p_phone, 'address', p_address)));
    BEGIN
        INSERT INTO finshard.users (username, email, password_hash, role, pii, pii_key_version, pan_hmac, pan_last4)
        VALUES (p_username, lower(p_email), v_hash, p_role, v_pii.pii, v_pii.key_version,
                encode(public.hmac(convert_to(p_pan, 'UTF8'), finshard._key('pan'), 'sha256'), 'hex'), right(p_pan, 4))
        RETURNING user_id INTO v_user_id;
    EXCEPTION WHEN unique_violation THEN
        -- A concurrent registration won the race after our check: the unique index decides.
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
        IF v_constraint LIKE '%email%' THEN
            PERFORM finshard.fail('FS023', format('email %s is already registered', p_email));
        END IF;
        PERFORM finshard.fail('FS022', format('username %s is taken', p_username));
    END;
    -- Which fields were given, never their values.
    PERFORM finshard._audit(0, 'create_user', jsonb_build_object('user_id', v_user_id, 'role', p_role, 'fields',
        to_jsonb(array_remove(ARRAY['username', 'email', 'password',
                                    CASE WHEN p_first_name IS NOT NULL THEN 'first_name' END,
                                    CASE WHEN p_last_name IS NOT NULL THEN 'last_name' END,
                                    CASE WHEN p_phone IS NOT NULL THEN 'phone' END,
                                    CASE WHEN p_address IS NOT NULL THEN 'address' END,
                                    CASE WHEN p_pan IS NOT NULL THEN 'pan' END], NULL))));
    RETURN v_user_id;
END
$$;
COMMENT ON FUNCTION finshard.create_user(text, text, text, text, text, text, text, text, text, text) IS 'Registers a user (role trader or admin) with a bcrypt password hash, its names, phone and address encrypted and its PAN as a keyed hash; returns user_id. Anyone granted may sign up a trader; an admin user needs an admin''s session or finshard_admin. Raises FS001, FS006, FS022, FS023, FS025, FS080-FS084, FS090';
REVOKE ALL ON FUNCTION finshard.create_user(text, text, text, text, text, text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.create_user(text, text, text, text, text, text, text, text, text, text) TO finshard_app, finshard_admin;
