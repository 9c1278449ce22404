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
        -- An unknown code is a bad argument like any other: FS005, naming the code and what was raised.
        SELECT e.hint INTO v_hint FROM finshard.error_codes e WHERE e.sqlstate = 'FS005';
        RAISE EXCEPTION USING ERRCODE = 'FS005', HINT = v_hint,
              MESSAGE = format('finshard.fail: %s is not in finshard.error_codes (raising: %s)', coalesce(p_code, 'NULL'), p_message);
    END IF;
    IF p_detail IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = p_code, MESSAGE = p_message, HINT = v_hint;
    END IF;
    RAISE EXCEPTION USING ERRCODE = p_code, MESSAGE = p_message, DETAIL = p_detail, HINT = v_hint;
END
$$;
COMMENT ON FUNCTION finshard.fail(text, text, text) IS 'Raises the finshard error p_code (finshard.error_codes) with p_message, p_detail and the table''s hint; FS005 when p_code is not in the table';
REVOKE ALL ON FUNCTION finshard.fail(text, text, text) FROM PUBLIC;
