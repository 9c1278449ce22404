CREATE OR REPLACE FUNCTION finshard.partition_missing(p_table text, p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- The CHECK of each table's DEFAULT partition calls this: a row reaches that partition only
    -- when no month covers it, so routing a row to its month costs nothing extra. IMMUTABLE is
    -- true: it never returns, whatever the input. Named without a leading _ because install drops
    -- and recreates the _ helpers, and a constraint depends on this one.
    PERFORM finshard.fail('FS071', format('%s has no partition for %s (month %s, UTC)', p_table, p_at,
                                          to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM')),
                          'The write was refused and changed nothing.');
    RETURN false;
END
$$;
COMMENT ON FUNCTION finshard.partition_missing(text, timestamptz) IS 'Raises FS071 for a row of p_table at p_at that no monthly partition covers: the CHECK constraint of every time-partitioned table''s DEFAULT partition';
REVOKE ALL ON FUNCTION finshard.partition_missing(text, timestamptz) FROM PUBLIC;
