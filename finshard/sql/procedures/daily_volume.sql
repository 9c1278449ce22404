CREATE OR REPLACE FUNCTION finshard.daily_volume(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (day date, currency text, transaction_type text, entries bigint, volume numeric)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM finshard._check_period(p_from, p_to);
    -- Admin report (seed 002): aggregated on every shard, merged on the coordinator.
    RETURN QUERY
        SELECT (t.created_at AT TIME ZONE 'UTC')::date, t.currency, t.transaction_type::text, count(*), sum(abs(t.amount))
          FROM finshard.transactions t
         WHERE t.created_at >= p_from AND t.created_at < p_to
         GROUP BY 1, 2, 3
         ORDER BY 1, 2, 3;
END
$$;
COMMENT ON FUNCTION finshard.daily_volume(timestamptz, timestamptz) IS 'Admin report: ledger entries and money moved per UTC day, currency and type over [p_from, p_to). Raises FS001, FS070';
REVOKE ALL ON FUNCTION finshard.daily_volume(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.daily_volume(timestamptz, timestamptz) TO finshard_admin, finshard_readonly;
