CREATE OR REPLACE FUNCTION finshard._not_null(p_value anyelement, p_name text)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF p_value IS NULL THEN
        PERFORM finshard.fail('FS001', format('%s must not be NULL', p_name));
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._not_null(anyelement, text) IS 'Raises FS001 naming p_name when p_value is NULL';
REVOKE ALL ON FUNCTION finshard._not_null(anyelement, text) FROM PUBLIC;
