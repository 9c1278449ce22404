CREATE OR REPLACE FUNCTION finshard.partition_name(p_table regclass, p_at timestamptz)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT
AS $$
    -- Monthly partitions in UTC: <table>_pYYYY_MM (finshard.sharding_logic.partition_for agrees).
    SELECT (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = p_table)
           || to_char(p_at AT TIME ZONE 'UTC', '"_p"YYYY"_"MM');
$$;
COMMENT ON FUNCTION finshard.partition_name(regclass, timestamptz) IS 'Name of the monthly partition of p_table that holds p_at (UTC months)';
