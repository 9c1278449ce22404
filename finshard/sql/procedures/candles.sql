CREATE OR REPLACE FUNCTION finshard.candles(p_instrument_id bigint, p_interval interval, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (bucket timestamptz, open numeric, high numeric, low numeric, close numeric, volume numeric)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM finshard._not_null(p_instrument_id, 'p_instrument_id');
    PERFORM finshard._not_null(p_interval, 'p_interval');
    PERFORM finshard._check_period(p_from, p_to);
    -- date_bin takes no months or years (0A000), and '1 month' would compare as 30 days.
    IF p_interval < interval '1 minute' OR p_interval > interval '31 days'
       OR extract(year FROM p_interval) <> 0 OR extract(month FROM p_interval) <> 0 THEN
        PERFORM finshard.fail('FS005', format('p_interval %s must be between 1 minute and 31 days', p_interval));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM finshard.instruments i WHERE i.instrument_id = p_instrument_id) THEN
        PERFORM finshard.fail('FS050', format('instrument %s does not exist', p_instrument_id));
    END IF;
    -- Roll the one-minute bars up: first open, max high, min low, last close, summed volume.
    RETURN QUERY
        SELECT date_bin(p_interval, m.bucket, timestamptz '2000-01-01 00:00:00+00') AS b,
               (array_agg(m.open ORDER BY m.bucket))[1], max(m.high), min(m.low),
               (array_agg(m.close ORDER BY m.bucket DESC))[1], sum(m.volume)
          FROM finshard.market_data m
         WHERE m.instrument_id = p_instrument_id AND m.bucket >= p_from AND m.bucket < p_to
         GROUP BY b ORDER BY b;
END
$$;
COMMENT ON FUNCTION finshard.candles(bigint, interval, timestamptz, timestamptz) IS 'OHLCV candles of any interval (1 minute to 31 days, aligned to 2000-01-01 UTC) from the one-minute bars over [p_from, p_to). Raises FS001, FS005, FS070';
REVOKE ALL ON FUNCTION finshard.candles(bigint, interval, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.candles(bigint, interval, timestamptz, timestamptz) TO finshard_app, finshard_market, finshard_admin, finshard_readonly;
