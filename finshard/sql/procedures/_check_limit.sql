CREATE OR REPLACE FUNCTION finshard._check_limit(p_limit integer, p_max integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > p_max THEN
        PERFORM finshard.fail('FS005', format('p_limit %s must be between 1 and %s', coalesce(p_limit::text, 'NULL'), p_max));
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._check_limit(integer, integer) IS 'Raises FS005 unless 1 <= p_limit <= p_max (page sizes of the listing functions)';
REVOKE ALL ON FUNCTION finshard._check_limit(integer, integer) FROM PUBLIC;
