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
    -- Not finshard.fail: on Citus this runs inside a shard's INSERT, where reading the reference
    -- table error_codes for the hint is a nested distributed query, which Citus refuses. The hint
    -- is the table's FS071 hint (tests/test_maintenance.py checks that they agree).
    RAISE EXCEPTION USING ERRCODE = 'FS071',
          MESSAGE = format('%s has no partition for %s (month %s, UTC)', p_table, p_at, to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM')),
          DETAIL = 'The write was refused and changed nothing.',
          HINT = 'Create the missing months: finshard partitions create --dsn DSN, or SELECT finshard.create_partitions(); the finshard-partitions job keeps them ahead (finshard maintenance status).';
    RETURN false;
END
$$;
COMMENT ON FUNCTION finshard.partition_missing(text, timestamptz) IS 'Raises FS071 for a row of p_table at p_at that no monthly partition covers: the CHECK constraint of every time-partitioned table''s DEFAULT partition';
REVOKE ALL ON FUNCTION finshard.partition_missing(text, timestamptz) FROM PUBLIC;
