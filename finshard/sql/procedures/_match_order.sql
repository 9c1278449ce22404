CREATE OR REPLACE FUNCTION finshard._match_order(p_account_id bigint, p_order_id bigint, p_created_at timestamptz,
                                                 p_max_quantity numeric DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql
AS $$
DECLARE
    v_order  record;
    v_quote  record;
    v_price  numeric;
    v_size   numeric;
    v_fill   numeric := 0;
    v_market boolean;
    v_available numeric;
    v_active boolean;
    v_status text;
    v_balance numeric;
BEGIN
    -- The account first, then its order: the same lock order as place_order and cancel_order.
    SELECT a.balance - a.reserved, a.owner_active, a.status, a.balance INTO v_available, v_active, v_status, v_balance
      FROM finshard.accounts a WHERE a.account_id = p_account_id /*on shards: AND hashint8(a.account_id) = hashint8(p_account_id) */ FOR UPDATE;
    SELECT o.* INTO v_order FROM finshard.orders o
     WHERE o.account_id = p_account_id AND o.order_id = p_order_id AND o.created_at = p_created_at
       /*on shards: AND hashint8(o.account_id) = hashint8(p_account_id) */ FOR UPDATE;
    IF NOT FOUND OR v_order.status NOT IN ('new', 'partially_filled') THEN
        RETURN 0;
    END IF;
    -- A frozen account's orders rest, unfilled, until it is unfrozen (a fill would move its money).
    IF v_status = 'frozen' THEN
        RETURN 0;
    END IF;
    -- A deactivated owner's account neither sends nor orders, and a closed one holds nothing: their
    -- resting orders end, unfilled.
    IF NOT v_active OR v_status <> 'active' THEN
        PERFORM finshard._close_order(p_account_id, p_order_id, 'cancelled', v_order.created_at);
        RETURN 0;
    END IF;
    SELECT i.bid_price, i.bid_size, i.ask_price, i.ask_size, i.lot_size, c.minor_units INTO v_quote
      FROM finshard.instruments i JOIN finshard.currencies c ON c.code = i.currency
     WHERE i.instrument_id = v_order.instrument_id;
    v_price := CASE v_order.side WHEN 'buy' THEN v_quote.ask_price ELSE v_quote.bid_price END;
    v_size := CASE v_order.side WHEN 'buy' THEN v_quote.ask_size ELSE v_quote.bid_size END;
    -- A stop triggers once the quote crosses its stop price, then works as a market (stop) or
    -- limit (stop_limit) order; until then it rests whatever its time in force.
    IF v_order.order_type IN ('stop', 'stop_limit') AND NOT v_order.triggered THEN
        IF v_price IS NULL OR (v_order.side = 'buy' AND v_price < v_order.stop_price)
                          OR (v_order.side = 'sell' AND v_price > v_order.stop_price) THEN
            RETURN 0;
        END IF;
        UPDATE finshard.orders SET triggered = true, updated_at = now()
         WHERE account_id = p_account_id AND order_id = p_order_id AND created_at = v_order.created_at
           /*on shards: AND hashint8(account_id) = hashint8(p_account_id) */;
    END IF;
    v_market := v_order.order_type IN ('market', 'stop');
    IF v_price IS NOT NULL AND (v_market OR (v_order.side = 'buy' AND v_price <= v_order.price)
                                         OR (v_order.side = 'sell' AND v_price >= v_order.price)) THEN
        v_fill := least(v_order.quantity - v_order.filled_quantity, v_size, coalesce(p_max_quantity, v_size));
        v_fill := trunc(v_fill / v_quote.lot_size) * v_quote.lot_size;
    END IF;
    -- Fill or kill: all of it now, or nothing at all.
    IF v_order.time_in_force = 'FOK' AND v_fill < v_order.quantity - v_order.filled_quantity THEN
        v_fill := 0;
    END IF;
    IF v_fill > 0 AND NOT finshard._fill(p_account_id, p_order_id, p_created_at, v_fill, v_price, v_order.side,
                                         v_order.instrument_id, v_order.quantity - v_order.filled_quantity,
                                         v_order.reserved_cash, v_available, v_quote.minor_units, v_balance) THEN
        RETURN 0;
    END IF;
    -- Market orders, IOC and FOK never rest: what did not fill now is cancelled.
    IF (v_order.order_type = 'market' OR v_order.time_in_force IN ('IOC', 'FOK'))
       AND v_fill < v_order.quantity - v_order.filled_quantity THEN
        PERFORM finshard._close_order(p_account_id, p_order_id, 'cancelled', p_created_at);
    END IF;
    RETURN v_fill;
END
$$;
COMMENT ON FUNCTION finshard._match_order(bigint, bigint, timestamptz, numeric) IS 'Fills one open order against its instrument''s latest quote (at most p_max_quantity), applying stop triggers and time in force; returns the quantity filled';
REVOKE ALL ON FUNCTION finshard._match_order(bigint, bigint, timestamptz, numeric) FROM PUBLIC;
