CREATE OR REPLACE FUNCTION finshard._check_quote(p_instrument_id bigint, p_bid_price numeric, p_bid_size numeric,
                                                 p_ask_price numeric, p_ask_size numeric)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
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
    PERFORM finshard._instrument(p_instrument_id);
END
$$;
COMMENT ON FUNCTION finshard._check_quote(bigint, numeric, numeric, numeric, numeric) IS 'Quote rules: FS001, FS050, FS051, FS053';
REVOKE ALL ON FUNCTION finshard._check_quote(bigint, numeric, numeric, numeric, numeric) FROM PUBLIC;
