CREATE OR REPLACE FUNCTION finshard._fill(p_account_id bigint, p_order_id bigint, p_quantity numeric, p_price numeric,
                                           p_created_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
    v_order    record;
    v_currency text;
    v_notional numeric;
    v_fee      numeric;
    v_release  numeric := 0;
    v_realized numeric := 0;
    v_trade_id bigint;
    v_entry    record;
    v_available numeric;
    -- A variable, not now() in the upsert: Citus allows only immutable functions in DO UPDATE SET.
    v_now      timestamptz := now();
BEGIN
    SELECT o.instrument_id, o.side, o.quantity - o.filled_quantity AS remaining, o.reserved_cash, o.filled_quantity,
           o.average_fill_price, o.created_at
      INTO v_order FROM finshard.orders o
     WHERE o.account_id = p_account_id AND o.order_id = p_order_id AND o.created_at = p_created_at;
    SELECT a.currency, a.balance - a.reserved INTO v_currency, v_available
      FROM finshard.accounts a WHERE a.account_id = p_account_id;
    v_notional := finshard._cash_amount(p_quantity, p_price, v_currency);
    v_fee := finshard.commission(v_notional, v_currency);
    IF v_order.side = 'buy' THEN
        -- Release the share of the reservation this fill uses (all of it on the last fill).
        v_release := CASE WHEN p_quantity = v_order.remaining THEN v_order.reserved_cash
                          ELSE least(v_order.reserved_cash, round(v_order.reserved_cash * p_quantity / v_order.remaining, 4)) END;
        -- A stop can fill above the price it reserved for (a gap): without the cash, reject it.
        IF v_available + v_release < v_notional + v_fee THEN
            PERFORM finshard._close_order(p_account_id, p_order_id, 'rejected', p_created_at);
            RETURN false;
        END IF;
    ELSE
        SELECT round(p_quantity * (p_price - p.average_price), 4) INTO v_realized
          FROM finshard.positions p WHERE p.account_id = p_account_id AND p.instrument_id = v_order.instrument_id;
    END IF;
    INSERT INTO finshard.trades (account_id, order_id, instrument_id, side, quantity, price, commission, realized_pnl)
    VALUES (p_account_id, p_order_id, v_order.instrument_id, v_order.side, p_quantity, p_price, v_fee, v_realized)
    RETURNING trade_id INTO v_trade_id;
    -- Cash settles through the ledger, in this same transaction: the trade, then its commission.
    v_entry := finshard._post_entry(p_account_id, CASE v_order.side WHEN 'buy' THEN -v_notional ELSE v_notional END,
                                    'trade_' || v_order.side, p_release => v_release,
                                    p_order_id => p_order_id, p_trade_id => v_trade_id);
    IF v_fee > 0 THEN
        PERFORM finshard._post_entry(p_account_id, -v_fee, 'fee', p_order_id => p_order_id, p_trade_id => v_trade_id,
                                     p_description => 'commission');
    END IF;
    IF v_order.side = 'buy' THEN
        INSERT INTO finshard.positions AS p (account_id, instrument_id, quantity, average_price)
        VALUES (p_account_id, v_order.instrument_id, p_quantity, p_price)
        ON CONFLICT (account_id, instrument_id) DO UPDATE
           SET average_price = round((p.quantity * p.average_price + EXCLUDED.quantity * EXCLUDED.average_price)
                                     / (p.quantity + EXCLUDED.quantity), 8),
               quantity = p.quantity + EXCLUDED.quantity,
               opened_at = CASE WHEN p.quantity = 0 THEN v_now ELSE p.opened_at END,
               updated_at = v_now;
    ELSE
        UPDATE finshard.positions p
           SET quantity = p.quantity - p_quantity,
               reserved_quantity = p.reserved_quantity - p_quantity,
               realized_pnl = p.realized_pnl + v_realized,
               average_price = CASE WHEN p.quantity = p_quantity THEN 0 ELSE p.average_price END,
               updated_at = now()
         WHERE p.account_id = p_account_id AND p.instrument_id = v_order.instrument_id;
    END IF;
    UPDATE finshard.orders o
       SET filled_quantity = o.filled_quantity + p_quantity,
           average_fill_price = round((coalesce(o.average_fill_price, 0) * o.filled_quantity + p_price * p_quantity)
                                      / (o.filled_quantity + p_quantity), 8),
           status = CASE WHEN o.filled_quantity + p_quantity = o.quantity THEN 'filled' ELSE 'partially_filled' END,
           reserved_cash = o.reserved_cash - v_release,
           filled_at = CASE WHEN o.filled_quantity + p_quantity = o.quantity THEN v_now END,
           updated_at = now()
     WHERE o.account_id = p_account_id AND o.order_id = p_order_id AND o.created_at = v_order.created_at;
    PERFORM finshard._notify(p_account_id, v_entry.user_id, 'trade',
                             format('%s %s @ %s filled (order %s)', initcap(v_order.side), p_quantity, p_price, p_order_id),
                             jsonb_build_object('order_id', p_order_id, 'trade_id', v_trade_id, 'instrument_id', v_order.instrument_id,
                                                'side', v_order.side, 'quantity', p_quantity, 'price', p_price, 'commission', v_fee));
    RETURN true;
END
$$;
COMMENT ON FUNCTION finshard._fill(bigint, bigint, numeric, numeric, timestamptz) IS 'Executes one fill: trade, ledger settlement and commission, position (average price, realized P&L), order progress, notification. false when a buy lacks the cash (the order is rejected)';
REVOKE ALL ON FUNCTION finshard._fill(bigint, bigint, numeric, numeric, timestamptz) FROM PUBLIC;
