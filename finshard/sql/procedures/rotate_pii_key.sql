CREATE OR REPLACE FUNCTION finshard.rotate_pii_key()
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_current integer;
    v_user    record;
    v_new     record;
    v_totp    record;
    v_count   integer := 0;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('rotate_pii_key');
    END IF;
    -- A role acting as itself, for no end user (and the audit entry says so).
    PERFORM finshard._caller(NULL);
    SELECT k.version INTO v_current FROM finshard._pii_keys() k WHERE k.current;
    -- Row by row, each new ciphertext computed first: Citus refuses volatile functions (the
    -- encryption's random salt) inside a write to a reference table.
    FOR v_user IN
        SELECT u.user_id, u.pii, u.pii_key_version, u.totp_secret, u.totp_key_version FROM finshard.users u
         WHERE (u.pii IS NOT NULL AND u.pii_key_version <> v_current)
            OR (u.totp_secret IS NOT NULL AND u.totp_key_version <> v_current)
         ORDER BY u.user_id FOR UPDATE
    LOOP
        -- A TOTP secret is kept under the same key as the personal data, and moves with it.
        v_new := finshard._encrypt_pii(finshard._decrypt_pii(v_user.pii, v_user.pii_key_version));
        v_totp := finshard._encrypt_pii(finshard._decrypt_pii(v_user.totp_secret, v_user.totp_key_version));
        UPDATE finshard.users
           SET pii = v_new.pii, pii_key_version = v_new.key_version,
               totp_secret = v_totp.pii, totp_key_version = v_totp.key_version
         WHERE user_id = v_user.user_id;
        v_count := v_count + 1;
    END LOOP;
    PERFORM finshard._audit(0, 'rotate_pii_key', jsonb_build_object('key_version', v_current, 'users', v_count));
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION finshard.rotate_pii_key() IS 'Re-encrypts every user''s personal data and TOTP secret still under an older key with the key in force (the first line of finshard_pii.key); returns how many users. finshard keys rotate writes the new key first and drops the old one after. Raises FS090';
REVOKE ALL ON FUNCTION finshard.rotate_pii_key() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.rotate_pii_key() TO finshard_admin;
