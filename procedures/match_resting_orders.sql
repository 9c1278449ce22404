CREATE OR REPLACE FUNCTION finshard.match_resting_orders(p_instrument_id bigint)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_quote  record;
    v_order  record;
    v_left   numeric;
    v_filled numeric;
    v_count  integer := 0;
BEGIN
    SELECT i.bid_price, i.bid_size, i.ask_price, i.ask_size INTO v_quote
      FROM finshard.instruments i WHERE i.instrument_id = p_instrument_id;
    IF v_quote.bid_price IS NULL THEN
        RETURN 0;
    END IF;
    -- The quote's size is shared: resting orders take it in price-time priority (best price first,
    -- stops and earlier orders before later ones at the same price). One scan of every shard's
    -- open-order index finds the candidates; each fill then runs on its own account's shard.
    FOR v_order IN
        SELECT o.account_id, o.order_id, o.side
          FROM finshard.orders o
         WHERE o.instrument_id = p_instrument_id AND o.status IN ('new', 'partially_filled')
           AND ((o.side = 'buy' AND ((o.order_type = 'limit' AND o.price >= v_quote.ask_price)
                                     OR (o.order_type IN ('stop', 'stop_limit') AND (o.triggered OR o.stop_price <= v_quote.ask_price))))
             OR (o.side = 'sell' AND ((o.order_type = 'limit' AND o.price <= v_quote.bid_price)
                                     OR (o.order_type IN ('stop', 'stop_limit') AND (o.triggered OR o.stop_price >= v_quote.bid_price)))))
         ORDER BY o.side,
                  CASE WHEN o.side = 'buy' THEN -coalesce(o.price, 1e12) ELSE coalesce(o.price, 0) END,
                  o.created_at, o.order_id
    LOOP
        v_left := CASE v_order.side WHEN 'buy' THEN v_quote.ask_size ELSE v_quote.bid_size END;
        CONTINUE WHEN v_left <= 0;
        v_filled := finshard._match_order(v_order.account_id, v_order.order_id, v_left);
        IF v_order.side = 'buy' THEN
            v_quote.ask_size := v_quote.ask_size - v_filled;
        ELSE
            v_quote.bid_size := v_quote.bid_size - v_filled;
        END IF;
        v_count := v_count + (v_filled > 0)::integer;
    END LOOP;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION finshard.match_resting_orders(bigint) IS 'Fills resting limit and triggered stop orders of an instrument that cross its latest quote, in price-time priority, up to the quote''s sizes; returns how many orders filled. update_quote calls it';
REVOKE ALL ON FUNCTION finshard.match_resting_orders(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.match_resting_orders(bigint) TO finshard_app;
