CREATE OR REPLACE FUNCTION finshard._check_quote(p_instrument_id bigint, p_bid_price numeric, p_bid_size numeric,
                                                 p_ask_price numeric, p_ask_size numeric)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_tick numeric;
BEGIN
    PERFORM finshard._not_null(p_bid_price, 'p_bid_price');
    PERFORM finshard._not_null(p_bid_size, 'p_bid_size');
    PERFORM finshard._not_null(p_ask_price, 'p_ask_price');
    PERFORM finshard._not_null(p_ask_size, 'p_ask_size');
    IF 'NaN'::numeric IN (p_bid_price, p_bid_size, p_ask_price, p_ask_size)
       OR least(p_bid_price, p_bid_size, p_ask_price, p_ask_size) <= 0
       OR greatest(p_bid_price, p_bid_size, p_ask_price, p_ask_size) >= 1e12 THEN
        PERFORM finshard.fail('FS053', format('quote %s x %s / %s x %s for instrument %s: prices and sizes must be > 0 and < 1e12',
                                              p_bid_price, p_bid_size, p_ask_price, p_ask_size, p_instrument_id));
    END IF;
    IF p_bid_price > p_ask_price THEN
        PERFORM finshard.fail('FS053', format('quote for instrument %s has bid %s above ask %s', p_instrument_id, p_bid_price, p_ask_price));
    END IF;
    -- A price below half a tick rounds to 0 at the instrument's tick, and a size to 0 at the columns'
    -- 8 decimals: stored, such a quote would make every later fill at it fail (trades' price > 0).
    v_tick := (finshard._instrument(p_instrument_id)).tick_size;
    IF round(least(p_bid_price, p_ask_price) / v_tick) = 0 OR round(least(p_bid_size, p_ask_size), 8) = 0 THEN
        PERFORM finshard.fail('FS053', format('quote %s x %s / %s x %s for instrument %s rounds to zero (tick size %s, sizes to 8 decimals)',
                                              p_bid_price, p_bid_size, p_ask_price, p_ask_size, p_instrument_id, v_tick));
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._check_quote(bigint, numeric, numeric, numeric, numeric) IS 'Quote rules: FS001, FS050, FS051, FS053';
REVOKE ALL ON FUNCTION finshard._check_quote(bigint, numeric, numeric, numeric, numeric) FROM PUBLIC;
