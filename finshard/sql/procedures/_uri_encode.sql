CREATE OR REPLACE FUNCTION finshard._uri_encode(p_text text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    v_bytes bytea := convert_to(p_text, 'UTF8');
    v_out   text := '';
    v_byte  integer;
    i       integer;
BEGIN
    -- RFC 3986 percent-encoding of every byte but the unreserved characters.
    FOR i IN 0 .. length(v_bytes) - 1 LOOP
        v_byte := get_byte(v_bytes, i);
        IF chr(v_byte) ~ '^[A-Za-z0-9._~-]$' AND v_byte < 128 THEN
            v_out := v_out || chr(v_byte);
        ELSE
            v_out := v_out || '%' || upper(lpad(to_hex(v_byte), 2, '0'));
        END IF;
    END LOOP;
    RETURN v_out;
END
$$;
COMMENT ON FUNCTION finshard._uri_encode(text) IS 'p_text percent-encoded (RFC 3986) for a URI component, such as the issuer and account of an otpauth URI';
REVOKE ALL ON FUNCTION finshard._uri_encode(text) FROM PUBLIC;
