CREATE OR REPLACE FUNCTION finshard._decrypt_pii(p_pii bytea, p_key_version integer)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_key text;
BEGIN
    IF p_pii IS NULL THEN
        RETURN '{}'::jsonb;
    END IF;
    SELECT k.key INTO v_key FROM finshard._pii_keys() k WHERE k.version = p_key_version;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS090', format('personal-data key version %s is not in finshard_pii.key on this node', p_key_version));
    END IF;
    RETURN public.pgp_sym_decrypt(p_pii, v_key)::jsonb;
END
$$;
COMMENT ON FUNCTION finshard._decrypt_pii(bytea, integer) IS 'Decrypts a user''s personal data with the key of version p_key_version; raises FS090 when that key is gone';
REVOKE ALL ON FUNCTION finshard._decrypt_pii(bytea, integer) FROM PUBLIC;
