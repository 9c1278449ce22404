CREATE OR REPLACE FUNCTION finshard.check_partitions(p_months_ahead integer DEFAULT NULL)
RETURNS TABLE (table_name regclass, months_ahead integer, first_missing timestamptz, wanted integer, ok boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
AS $$
DECLARE
    v_wanted integer := p_months_ahead;
BEGIN
    -- By default one month fewer than the partitions job keeps: it runs daily, so on the first of a
    -- month its newest month may not exist for a few hours yet.
    IF v_wanted IS NULL THEN
        SELECT greatest(s.value::integer - 1, 0) INTO v_wanted FROM finshard.settings s WHERE s.key = 'partition_months_ahead';
    END IF;
    IF v_wanted NOT BETWEEN 0 AND 120 THEN
        -- Raised here, not through finshard.fail: this runs as its caller, who may not execute that.
        RAISE EXCEPTION USING ERRCODE = 'FS070', MESSAGE = format('p_months_ahead %s must be between 0 and 120', v_wanted),
              HINT = (SELECT e.hint FROM finshard.error_codes e WHERE e.sqlstate = 'FS070');
    END IF;
    -- Months after the current one covered without a gap (-1: the current month has no partition).
    RETURN QUERY
    WITH l AS MATERIALIZED (SELECT * FROM finshard.list_partitions())
    SELECT t.table_name, g.first - 1, date_trunc('month', now()) + make_interval(months => g.first), v_wanted, g.first - 1 >= v_wanted
      FROM finshard.partitioned_tables() t
      CROSS JOIN LATERAL (
          SELECT min(m)::integer AS first FROM generate_series(0, 121) AS m
           WHERE NOT EXISTS (SELECT 1 FROM l
                              WHERE l.table_name = t.table_name
                                AND l.range_from <= date_trunc('month', now()) + make_interval(months => m)
                                AND l.range_to >= date_trunc('month', now()) + make_interval(months => m + 1))) g
     ORDER BY t.table_name::text;
END
$$;
COMMENT ON FUNCTION finshard.check_partitions(integer) IS 'For monitoring: per partitioned table, how many months after the current one have partitions without a gap, the first month without one, the months wanted, and ok when it has at least p_months_ahead (default: the partitions job''s partition_months_ahead setting minus one). Raises FS070';
REVOKE ALL ON FUNCTION finshard.check_partitions(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.check_partitions(integer) TO finshard_admin, finshard_readonly;
