CREATE OR REPLACE FUNCTION finshard._encrypt_pii(p_pii jsonb, OUT pii bytea, OUT key_version integer)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_key text;
BEGIN
    -- NULL when there is nothing to keep: no ciphertext, no key needed.
    IF p_pii IS NULL OR p_pii = '{}'::jsonb THEN
        RETURN;
    END IF;
    SELECT k.version, k.key INTO key_version, v_key FROM finshard._pii_keys() k WHERE k.current;
    pii := public.pgp_sym_encrypt(p_pii::text, v_key, 'cipher-algo=aes256');
END
$$;
COMMENT ON FUNCTION finshard._encrypt_pii(jsonb) IS 'Encrypts a user''s personal data (a JSON object) with the personal-data key in force; returns the ciphertext and the key''s version';
REVOKE ALL ON FUNCTION finshard._encrypt_pii(jsonb) FROM PUBLIC;
