CREATE OR REPLACE FUNCTION finshard.fail(p_code text, p_message text, p_detail text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_hint text;
BEGIN
    -- The hint comes from the one error table, so every raise of a code tells the same remedy.
    SELECT e.hint INTO v_hint FROM finshard.error_codes e WHERE e.sqlstate = p_code;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'finshard.fail: % is not in finshard.error_codes (raising: %)', p_code, p_message
              USING ERRCODE = 'XX000';
    END IF;
    IF p_detail IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = p_code, MESSAGE = p_message, HINT = v_hint;
    END IF;
    RAISE EXCEPTION USING ERRCODE = p_code, MESSAGE = p_message, DETAIL = p_detail, HINT = v_hint;
END
$$;
COMMENT ON FUNCTION finshard.fail(text, text, text) IS 'Raises the finshard error p_code (finshard.error_codes) with p_message, p_detail and the table''s hint';
REVOKE ALL ON FUNCTION finshard.fail(text, text, text) FROM PUBLIC;
