CREATE OR REPLACE FUNCTION finshard.partition_name(p_table regclass, p_at timestamptz)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    v_relname text;
BEGIN
    -- Not STRICT: a NULL, an unknown table or an infinite time is refused, never answered with NULL.
    -- PL/pgSQL, late-bound: finshard.fail is installed after the partition functions.
    IF p_table IS NULL OR p_at IS NULL THEN
        PERFORM finshard._not_null(p_table, 'p_table');
        PERFORM finshard._not_null(p_at, 'p_at');
    END IF;
    IF NOT isfinite(p_at) THEN
        PERFORM finshard.fail('FS070', format('p_at %s has no month', p_at));
    END IF;
    SELECT c.relname INTO v_relname FROM pg_catalog.pg_class c WHERE c.oid = p_table;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS005', format('table %s does not exist', p_table::oid));
    END IF;
    -- Monthly partitions in UTC: <table>_pYYYY_MM (finshard.sharding_logic.partition_for agrees).
    RETURN v_relname || to_char(p_at AT TIME ZONE 'UTC', '"_p"YYYY"_"MM');
END
$$;
COMMENT ON FUNCTION finshard.partition_name(regclass, timestamptz) IS 'Name of the monthly partition of p_table that holds p_at (UTC months). Raises FS001, FS005, FS070';
REVOKE ALL ON FUNCTION finshard.partition_name(regclass, timestamptz) FROM PUBLIC;
