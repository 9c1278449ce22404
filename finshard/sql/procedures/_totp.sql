CREATE OR REPLACE FUNCTION finshard._totp(p_secret bytea, p_step bigint, p_digits integer DEFAULT 6, p_algorithm text DEFAULT 'sha1')
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    v_mac    bytea;
    v_offset integer;
    v_bin    bigint;
BEGIN
    -- RFC 6238: HOTP (RFC 4226) of the time step, the step as 8 bytes big-endian (int8send).
    v_mac := public.hmac(pg_catalog.int8send(p_step), p_secret, p_algorithm);
    -- Dynamic truncation: the low 4 bits of the last byte pick 4 bytes; their top bit is dropped.
    v_offset := get_byte(v_mac, length(v_mac) - 1) & 15;
    v_bin := ((get_byte(v_mac, v_offset) & 127)::bigint << 24) | (get_byte(v_mac, v_offset + 1)::bigint << 16)
             | (get_byte(v_mac, v_offset + 2)::bigint << 8) | get_byte(v_mac, v_offset + 3)::bigint;
    RETURN lpad((v_bin % (10::bigint ^ p_digits)::bigint)::text, p_digits, '0');
END
$$;
COMMENT ON FUNCTION finshard._totp(bytea, bigint, integer, text) IS 'The RFC 6238 TOTP code of secret p_secret for time step p_step (Unix time / 30): p_digits digits, HMAC p_algorithm (sha1, sha256, sha512)';
REVOKE ALL ON FUNCTION finshard._totp(bytea, bigint, integer, text) FROM PUBLIC;
