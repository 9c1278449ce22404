CREATE OR REPLACE FUNCTION finshard._partitions_cover(p_table regclass, p_from timestamptz, p_to timestamptz)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    -- For a hot path (the dispatcher's every pass): one expression of catalog-cache look-ups that
    -- PostgreSQL inlines, where finshard.list_partitions reads every partition's bounds and
    -- finshard.partition_name runs a query. A month's partition is found by partition_name's rule
    -- (<table>_pYYYY_MM, UTC; tests check they agree) and must be attached to p_table. Spans of
    -- more than two months answer false: the caller then reads the exact ranges.
    SELECT coalesce(isfinite(p_from) AND isfinite(p_to)
                    AND p_to AT TIME ZONE 'UTC' < date_trunc('month', p_from AT TIME ZONE 'UTC') + interval '2 months'
                    AND pg_catalog.pg_partition_root(pg_catalog.to_regclass(p_table::text || to_char(p_from AT TIME ZONE 'UTC', '"_p"YYYY"_"MM'))) = p_table
                    AND (date_trunc('month', p_to AT TIME ZONE 'UTC') = date_trunc('month', p_from AT TIME ZONE 'UTC')
                         OR pg_catalog.pg_partition_root(pg_catalog.to_regclass(p_table::text || to_char(p_to AT TIME ZONE 'UTC', '"_p"YYYY"_"MM'))) = p_table),
                    false)
$$;
COMMENT ON FUNCTION finshard._partitions_cover(regclass, timestamptz, timestamptz) IS 'Whether every time from p_from to p_to (p_from <= p_to, at most two UTC months) falls in a monthly partition of p_table, not its DEFAULT partition; false when unsure (NULL or infinite times, longer spans): read finshard.list_partitions then';
REVOKE ALL ON FUNCTION finshard._partitions_cover(regclass, timestamptz, timestamptz) FROM PUBLIC;
