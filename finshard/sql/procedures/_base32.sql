CREATE OR REPLACE FUNCTION finshard._base32(p_bytes bytea)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    c_alphabet CONSTANT text := 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
    v_bits text := '';
    v_out  text := '';
    i      integer;
BEGIN
    -- RFC 4648 base32 without padding, as authenticator apps read a TOTP secret.
    FOR i IN 0 .. length(p_bytes) - 1 LOOP
        v_bits := v_bits || get_byte(p_bytes, i)::bit(8)::text;
    END LOOP;
    v_bits := rpad(v_bits, ((length(v_bits) + 4) / 5) * 5, '0');
    FOR i IN 0 .. length(v_bits) / 5 - 1 LOOP
        v_out := v_out || substr(c_alphabet, substr(v_bits, i * 5 + 1, 5)::bit(5)::integer + 1, 1);
    END LOOP;
    RETURN v_out;
END
$$;
COMMENT ON FUNCTION finshard._base32(bytea) IS 'RFC 4648 base32 (no padding) of p_bytes: how a TOTP secret is shown and put in an otpauth URI';
REVOKE ALL ON FUNCTION finshard._base32(bytea) FROM PUBLIC;
