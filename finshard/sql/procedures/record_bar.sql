CREATE OR REPLACE FUNCTION finshard.record_bar(p_instrument_id bigint, p_bucket timestamptz, p_open numeric, p_high numeric,
                                               p_low numeric, p_close numeric, p_volume numeric DEFAULT 0)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('record_bar');
    END IF;
    PERFORM finshard._not_null(p_instrument_id, 'p_instrument_id');
    PERFORM finshard._not_null(p_bucket, 'p_bucket');
    PERFORM finshard._not_null(p_open, 'p_open');
    PERFORM finshard._not_null(p_high, 'p_high');
    PERFORM finshard._not_null(p_low, 'p_low');
    PERFORM finshard._not_null(p_close, 'p_close');
    PERFORM finshard._not_null(p_volume, 'p_volume');
    -- Prices and volume must fit market_data's numeric(20,8) and (24,8) (Infinity and 1e12 do not)
    -- and must not round to zero there.
    IF 'NaN'::numeric IN (p_open, p_high, p_low, p_close, p_volume) OR least(p_open, p_high, p_low, p_close) <= 0
       OR round(least(p_open, p_high, p_low, p_close), 8) = 0 OR greatest(p_open, p_high, p_low, p_close) >= 1e12
       OR p_volume >= 1e12 OR p_volume < 0 OR p_low > least(p_open, p_close) OR p_high < greatest(p_open, p_close) THEN
        PERFORM finshard.fail('FS053', format('bar %s/%s/%s/%s volume %s is not a valid OHLCV bar', p_open, p_high, p_low, p_close, p_volume));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM finshard.instruments i WHERE i.instrument_id = p_instrument_id) THEN
        PERFORM finshard.fail('FS050', format('instrument %s does not exist', p_instrument_id));
    END IF;
    -- A bucket no partition covers would fail the INSERT with a raw 23514 (infinity has no month).
    IF NOT isfinite(p_bucket) OR NOT EXISTS (
           SELECT 1 FROM pg_catalog.pg_class c
            WHERE c.relname = finshard.partition_name('finshard.market_data'::regclass, p_bucket)
              AND c.relnamespace = 'finshard'::regnamespace) THEN
        PERFORM finshard.fail('FS071', format('no partition of finshard.market_data covers bucket %s', p_bucket));
    END IF;
    -- One-minute bars; a bar recorded twice is replaced (a corrected feed).
    INSERT INTO finshard.market_data (instrument_id, bucket, open, high, low, close, volume)
    VALUES (p_instrument_id, date_trunc('minute', p_bucket), p_open, p_high, p_low, p_close, p_volume)
    ON CONFLICT (instrument_id, bucket) DO UPDATE
       SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, volume = EXCLUDED.volume;
END
$$;
COMMENT ON FUNCTION finshard.record_bar(bigint, timestamptz, numeric, numeric, numeric, numeric, numeric) IS 'Stores (or corrects) a one-minute OHLCV bar. Raises FS001, FS050, FS053, FS071';
REVOKE ALL ON FUNCTION finshard.record_bar(bigint, timestamptz, numeric, numeric, numeric, numeric, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.record_bar(bigint, timestamptz, numeric, numeric, numeric, numeric, numeric) TO finshard_market;
