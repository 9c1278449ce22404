CREATE OR REPLACE FUNCTION finshard.list_partitions()
RETURNS TABLE (table_name regclass, partition_name text, range_from timestamptz, range_to timestamptz, retire_after timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.table_name,
           c.relname::text,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz + t.retention
      FROM finshard.partitioned_tables() t
      JOIN pg_inherits i ON i.inhparent = t.table_name
      JOIN pg_class c ON c.oid = i.inhrelid
      -- Months only: the DEFAULT partition (create_partitions) holds no rows and has no range.
      JOIN pg_partitioned_table p ON p.partrelid = t.table_name AND p.partdefid <> c.oid
     ORDER BY 1, 3;
$$;
COMMENT ON FUNCTION finshard.list_partitions() IS 'Every monthly partition (not the DEFAULT one) with its range and the time after which retention allows retiring it';
REVOKE ALL ON FUNCTION finshard.list_partitions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.list_partitions() TO finshard_admin, finshard_readonly;
