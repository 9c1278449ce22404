-- The account's balance became an argument (a sale must not carry it past what it holds).
DROP FUNCTION IF EXISTS finshard._fill(bigint, bigint, timestamptz, numeric, numeric, text, bigint, numeric, numeric, numeric, smallint);
CREATE OR REPLACE FUNCTION finshard._fill(p_account_id bigint, p_order_id bigint, p_created_at timestamptz,
                                           p_quantity numeric, p_price numeric, p_side text, p_instrument_id bigint,
                                           p_remaining numeric, p_reserved_cash numeric, p_available numeric,
                                           p_minor_units smallint, p_balance numeric)
RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
    v_notional numeric := finshard._cash_amount(p_quantity, p_price, p_minor_units, p_side);
    v_fee      numeric;
    v_release  numeric := 0;
    v_realized numeric := 0;
    v_pnl      numeric := 0;
    v_trade_id bigint;
    v_entry    record;
    v_now      timestamptz := now();
BEGIN
    -- The caller (_match_order) has locked the account and the order and passes what it read:
    -- on Citus every read here would be one more statement planned for the shard.
    v_fee := finshard._fee(v_notional, p_minor_units);
    IF p_side = 'buy' THEN
        -- Release the share of the reservation this fill uses (all of it on the last fill).
        -- At least what the fill costs: a share rounded down must not leave a funded order short.
        v_release := CASE WHEN p_quantity = p_remaining THEN p_reserved_cash
                          ELSE least(p_reserved_cash, greatest(round(p_reserved_cash * p_quantity / p_remaining, 4),
                                                               v_notional + v_fee)) END;
        -- A stop can fill above the price it reserved for (a gap): without the cash, reject it.
        IF p_available + v_release < v_notional + v_fee THEN
            PERFORM finshard._close_order(p_account_id, p_order_id, 'rejected', p_created_at);
            RETURN false;
        END IF;
    ELSE
        SELECT round(p_quantity * (p_price - p.average_price), 4), p.realized_pnl INTO v_realized, v_pnl
          FROM finshard.positions p WHERE p.account_id = p_account_id AND p.instrument_id = p_instrument_id
               /*on shards: AND hashint8(p.account_id) = hashint8(p_account_id) */;
    END IF;
    -- Beyond what a balance, a commission or a P&L column holds (< 1e18), the fill is rejected:
    -- raising would undo the whole quote update, every other order's fills and the quote with them.
    IF v_notional + v_fee >= 1e18 OR (p_side = 'sell' AND (p_balance + v_notional >= 1e18 OR abs(v_pnl + v_realized) >= 1e18)) THEN
        PERFORM finshard._close_order(p_account_id, p_order_id, 'rejected', p_created_at);
        RETURN false;
    END IF;
    INSERT INTO finshard.trades (account_id, order_id, instrument_id, side, quantity, price, commission, realized_pnl)
    VALUES (p_account_id, p_order_id, p_instrument_id, p_side, p_quantity, p_price, v_fee, v_realized)
    RETURNING trade_id INTO v_trade_id;
    -- Cash settles through the ledger, in this same transaction: the trade, then its commission.
    -- The trade's audit entry rides on its cash entry (the same row version): audit_verify finds a
    -- trade or fee in the ledger that no keyed entry vouches for.
    v_entry := finshard._post_entry(p_account_id, CASE p_side WHEN 'buy' THEN -v_notional ELSE v_notional END,
                                    'trade_' || p_side, p_release => v_release,
                                    p_order_id => p_order_id, p_trade_id => v_trade_id, p_audit_action => 'trade',
                                    p_audit_details => jsonb_build_object('trade_id', v_trade_id, 'order_id', p_order_id,
                                                                          'side', p_side, 'quantity', p_quantity,
                                                                          'price', p_price, 'amount', v_notional,
                                                                          'fee', v_fee));
    IF v_fee > 0 THEN
        PERFORM finshard._post_entry(p_account_id, -v_fee, 'fee', p_order_id => p_order_id, p_trade_id => v_trade_id,
                                     p_description => 'commission');
    END IF;
    IF p_side = 'buy' THEN
        -- An update, and an insert when the account holds none: the caller's lock on the account
        -- keeps any other fill of it out between the two (and a node's finshard_local positions,
        -- partitioned by an expression, can have no unique index for an ON CONFLICT).
        UPDATE finshard.positions p
           SET average_price = round((p.quantity * p.average_price + p_quantity * p_price) / (p.quantity + p_quantity), 8),
               quantity = p.quantity + p_quantity,
               opened_at = CASE WHEN p.quantity = 0 THEN v_now ELSE p.opened_at END,
               updated_at = v_now
         WHERE p.account_id = p_account_id AND p.instrument_id = p_instrument_id
           /*on shards: AND hashint8(p.account_id) = hashint8(p_account_id) */;
        IF NOT FOUND THEN
            INSERT INTO finshard.positions (account_id, instrument_id, quantity, average_price)
            VALUES (p_account_id, p_instrument_id, p_quantity, p_price);
        END IF;
    ELSE
        UPDATE finshard.positions p
           SET quantity = p.quantity - p_quantity,
               reserved_quantity = p.reserved_quantity - p_quantity,
               realized_pnl = p.realized_pnl + v_realized,
               average_price = CASE WHEN p.quantity = p_quantity THEN 0 ELSE p.average_price END,
               updated_at = now()
         WHERE p.account_id = p_account_id AND p.instrument_id = p_instrument_id
           /*on shards: AND hashint8(p.account_id) = hashint8(p_account_id) */;
    END IF;
    UPDATE finshard.orders o
       SET filled_quantity = o.filled_quantity + p_quantity,
           average_fill_price = round((coalesce(o.average_fill_price, 0) * o.filled_quantity + p_price * p_quantity)
                                      / (o.filled_quantity + p_quantity), 8),
           status = CASE WHEN o.filled_quantity + p_quantity = o.quantity THEN 'filled' ELSE 'partially_filled' END,
           reserved_cash = o.reserved_cash - v_release,
           filled_at = CASE WHEN o.filled_quantity + p_quantity = o.quantity THEN v_now END,
           updated_at = now()
     WHERE o.account_id = p_account_id AND o.order_id = p_order_id AND o.created_at = p_created_at
       /*on shards: AND hashint8(o.account_id) = hashint8(p_account_id) */;
    PERFORM finshard._notify(p_account_id, v_entry.user_id, 'trade',
                             format('%s %s @ %s filled (order %s)', initcap(p_side), p_quantity, p_price, p_order_id),
                             jsonb_build_object('order_id', p_order_id, 'trade_id', v_trade_id, 'instrument_id', p_instrument_id,
                                                'side', p_side, 'quantity', p_quantity, 'price', p_price, 'commission', v_fee));
    RETURN true;
END
$$;
COMMENT ON FUNCTION finshard._fill(bigint, bigint, timestamptz, numeric, numeric, text, bigint, numeric, numeric, numeric, smallint, numeric) IS 'Executes one fill: trade, ledger settlement and commission, position (average price, realized P&L), order progress, notification. false when a buy lacks the cash or the fill is beyond what the columns hold (the order is rejected)';
REVOKE ALL ON FUNCTION finshard._fill(bigint, bigint, timestamptz, numeric, numeric, text, bigint, numeric, numeric, numeric, smallint, numeric) FROM PUBLIC;
