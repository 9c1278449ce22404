CREATE OR REPLACE FUNCTION finshard._check_period(p_from timestamptz, p_to timestamptz)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    PERFORM finshard._not_null(p_from, 'p_from');
    PERFORM finshard._not_null(p_to, 'p_to');
    IF p_from >= p_to THEN
        PERFORM finshard.fail('FS070', format('p_from %s must be before p_to %s', p_from, p_to));
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._check_period(timestamptz, timestamptz) IS 'Raises FS001 or FS070 unless p_from < p_to';
REVOKE ALL ON FUNCTION finshard._check_period(timestamptz, timestamptz) FROM PUBLIC;
