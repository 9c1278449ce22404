CREATE OR REPLACE FUNCTION finshard.trading_volume(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (day date, instrument_id bigint, symbol text, trades bigint, quantity numeric, notional numeric, commission numeric)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM finshard._check_period(p_from, p_to);
    -- Admin report: aggregated on every shard (trades joined to the instruments reference table), merged on the coordinator.
    RETURN QUERY
        SELECT (t.executed_at AT TIME ZONE 'UTC')::date, t.instrument_id, i.symbol, count(*), sum(t.quantity),
               sum(t.quantity * t.price), sum(t.commission)
          FROM finshard.trades t
          JOIN finshard.instruments i ON i.instrument_id = t.instrument_id
         WHERE t.executed_at >= p_from AND t.executed_at < p_to
         GROUP BY 1, 2, 3
         ORDER BY 1, 3;
END
$$;
COMMENT ON FUNCTION finshard.trading_volume(timestamptz, timestamptz) IS 'Admin report: trades, quantity, notional and commission per UTC day and instrument over [p_from, p_to). Raises FS001, FS070';
REVOKE ALL ON FUNCTION finshard.trading_volume(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.trading_volume(timestamptz, timestamptz) TO finshard_admin, finshard_readonly;
