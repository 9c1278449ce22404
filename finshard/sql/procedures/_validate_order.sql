CREATE OR REPLACE FUNCTION finshard._validate_order(p_order_type text, p_side text, p_quantity numeric, p_price numeric,
                                                    p_stop_price numeric, p_time_in_force text,
                                                    p_tick_size numeric, p_lot_size numeric)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    PERFORM finshard._not_null(p_order_type, 'p_order_type');
    PERFORM finshard._not_null(p_side, 'p_side');
    PERFORM finshard._not_null(p_quantity, 'p_quantity');
    PERFORM finshard._not_null(p_time_in_force, 'p_time_in_force');
    IF p_order_type NOT IN ('market', 'limit', 'stop', 'stop_limit') THEN
        PERFORM finshard.fail('FS055', format('order type %L is not market, limit, stop or stop_limit', left(p_order_type, 40)));
    END IF;
    IF p_side NOT IN ('buy', 'sell') THEN
        PERFORM finshard.fail('FS055', format('side %L is not buy or sell', left(p_side, 40)));
    END IF;
    IF p_time_in_force NOT IN ('GTC', 'IOC', 'FOK', 'DAY') THEN
        PERFORM finshard.fail('FS055', format('time in force %L is not GTC, IOC, FOK or DAY', left(p_time_in_force, 40)));
    END IF;
    IF p_quantity = 'NaN'::numeric OR p_quantity <= 0 OR p_quantity >= 1e12 THEN
        PERFORM finshard.fail('FS002', format('p_quantity %s must be > 0 and < 1e12', p_quantity));
    END IF;
    IF p_price IS NOT NULL AND (p_price = 'NaN'::numeric OR p_price <= 0 OR p_price >= 1e12) THEN
        PERFORM finshard.fail('FS002', format('p_price %s must be > 0 and < 1e12', p_price));
    END IF;
    IF p_stop_price IS NOT NULL AND (p_stop_price = 'NaN'::numeric OR p_stop_price <= 0 OR p_stop_price >= 1e12) THEN
        PERFORM finshard.fail('FS002', format('p_stop_price %s must be > 0 and < 1e12', p_stop_price));
    END IF;
    -- Each order type takes exactly the prices it needs.
    IF (p_price IS NOT NULL) <> (p_order_type IN ('limit', 'stop_limit')) THEN
        PERFORM finshard.fail('FS055', format('a %s order %s limit price (p_price %s)', p_order_type,
                                              CASE WHEN p_order_type IN ('limit', 'stop_limit') THEN 'needs a' ELSE 'takes no' END,
                                              coalesce(p_price::text, 'NULL')));
    END IF;
    IF (p_stop_price IS NOT NULL) <> (p_order_type IN ('stop', 'stop_limit')) THEN
        PERFORM finshard.fail('FS055', format('a %s order %s stop price (p_stop_price %s)', p_order_type,
                                              CASE WHEN p_order_type IN ('stop', 'stop_limit') THEN 'needs a' ELSE 'takes no' END,
                                              coalesce(p_stop_price::text, 'NULL')));
    END IF;
    IF p_price % p_tick_size <> 0 THEN
        PERFORM finshard.fail('FS056', format('price %s is not a multiple of the tick size %s', p_price, p_tick_size));
    END IF;
    IF p_stop_price % p_tick_size <> 0 THEN
        PERFORM finshard.fail('FS056', format('stop price %s is not a multiple of the tick size %s', p_stop_price, p_tick_size));
    END IF;
    IF p_quantity % p_lot_size <> 0 THEN
        PERFORM finshard.fail('FS057', format('quantity %s is not a multiple of the lot size %s', p_quantity, p_lot_size));
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._validate_order(text, text, numeric, numeric, numeric, text, numeric, numeric) IS 'Order argument rules: FS001, FS002, FS055, FS056, FS057';
REVOKE ALL ON FUNCTION finshard._validate_order(text, text, numeric, numeric, numeric, text, numeric, numeric) FROM PUBLIC;
