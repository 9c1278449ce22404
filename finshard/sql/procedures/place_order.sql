CREATE OR REPLACE FUNCTION finshard.place_order(p_account_id bigint,
                                                p_instrument_id bigint,
                                                p_order_type text,
                                                p_side text,
                                                p_quantity numeric,
                                                p_price numeric DEFAULT NULL,
                                                p_stop_price numeric DEFAULT NULL,
                                                p_time_in_force text DEFAULT 'GTC',
                                                p_idempotency_key text DEFAULT NULL,
                                                p_session text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_ins      record;
    v_acc      record;
    v_replay   jsonb;
    v_order_id bigint;
    v_ref      numeric;
    v_reserve  numeric := 0;
    v_free     numeric;
    v_created_at timestamptz;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('place_order');
    END IF;
    -- Who may do this, for whom: docs/roles.md.
    PERFORM finshard._authorize(p_session, p_account_id, 'sender');
    PERFORM finshard._not_null(p_account_id, 'p_account_id');
    -- A retry replays the order the first call placed, whatever changed since (the instrument
    -- deactivated, its lot size): the checks below judge new orders. A request with a NaN or an
    -- infinity was never stored (and jsonb holds neither).
    IF p_idempotency_key IS NOT NULL AND NOT ARRAY[p_quantity, p_price, p_stop_price] && ARRAY['NaN', 'Infinity', '-Infinity']::numeric[] THEN
        SELECT k.result INTO v_replay FROM finshard.idempotency_keys k
         WHERE k.account_id = p_account_id AND k.idempotency_key = p_idempotency_key AND k.operation = 'place_order'
           AND k.result IS NOT NULL
           AND k.request = jsonb_build_object('instrument_id', p_instrument_id, 'order_type', p_order_type, 'side', p_side,
                                              'quantity', p_quantity, 'price', p_price, 'stop_price', p_stop_price,
                                              'time_in_force', p_time_in_force);
        IF v_replay IS NOT NULL THEN
            RETURN (v_replay ->> 'order_id')::bigint;
        END IF;
    END IF;
    SELECT * INTO v_ins FROM finshard._instrument(p_instrument_id);
    PERFORM finshard._validate_order(p_order_type, p_side, p_quantity, p_price, p_stop_price, p_time_in_force,
                                     v_ins.tick_size, v_ins.lot_size);
    IF p_idempotency_key IS NOT NULL THEN
        v_replay := finshard._idempotency_begin(p_account_id, p_idempotency_key, 'place_order',
                        jsonb_build_object('instrument_id', p_instrument_id, 'order_type', p_order_type, 'side', p_side,
                                           'quantity', p_quantity, 'price', p_price, 'stop_price', p_stop_price,
                                           'time_in_force', p_time_in_force));
        IF v_replay IS NOT NULL THEN
            RETURN (v_replay ->> 'order_id')::bigint;
        END IF;
    END IF;
    SELECT * INTO v_acc FROM finshard._lock_account(p_account_id);
    IF v_acc.status <> 'active' THEN
        PERFORM finshard.fail(CASE v_acc.status WHEN 'closed' THEN 'FS011' ELSE 'FS012' END,
                              format('account %s is %s', p_account_id, v_acc.status));
    END IF;
    IF v_acc.currency <> v_ins.currency THEN
        PERFORM finshard.fail('FS005', format('account %s holds %s; instrument %s trades in %s', p_account_id,
                                              v_acc.currency, p_instrument_id, v_ins.currency));
    END IF;
    IF p_order_type = 'market' AND (CASE p_side WHEN 'buy' THEN v_ins.ask_price ELSE v_ins.bid_price END) IS NULL THEN
        PERFORM finshard.fail('FS054', format('instrument %s has no quote for a market %s', p_instrument_id, p_side));
    END IF;
    -- What the columns hold: a fill's cash below 1e18, a position below 1e12 (with every open buy
    -- filled). Refused here, before anything is written; a fill beyond them later is rejected.
    IF p_quantity * coalesce(p_price, p_stop_price, CASE p_side WHEN 'buy' THEN v_ins.ask_price ELSE v_ins.bid_price END, 0) >= 1e18 THEN
        PERFORM finshard.fail('FS004', format('%s x %s is beyond the largest amount a balance holds (< 1e18)', p_quantity,
                                              coalesce(p_price, p_stop_price, CASE p_side WHEN 'buy' THEN v_ins.ask_price ELSE v_ins.bid_price END)));
    END IF;
    IF p_side = 'buy' AND p_quantity + coalesce((SELECT p.quantity FROM finshard.positions p
                                                  WHERE p.account_id = p_account_id AND p.instrument_id = p_instrument_id), 0)
                      + coalesce((SELECT sum(o.quantity - o.filled_quantity) FROM finshard.orders o
                                   WHERE o.account_id = p_account_id AND o.instrument_id = p_instrument_id AND o.side = 'buy'
                                     AND o.status IN ('new', 'partially_filled')), 0) >= 1e12 THEN
        PERFORM finshard.fail('FS004', format('account %s would hold 1e12 or more of instrument %s with this buy and its open buys filled; a position holds less',
                                              p_account_id, p_instrument_id));
    END IF;
    IF p_side = 'buy' THEN
        -- Buying power: reserve the cost at the worst price this order may pay, plus commission.
        v_ref := CASE p_order_type WHEN 'market' THEN v_ins.ask_price
                                   WHEN 'stop' THEN greatest(p_stop_price, coalesce(v_ins.ask_price, 0))
                                   ELSE p_price END;
        v_reserve := finshard._cash_amount(p_quantity, v_ref, v_ins.minor_units, 'buy');
        v_reserve := v_reserve + finshard._fee(v_reserve, v_ins.minor_units);
        IF v_acc.balance - v_acc.reserved < v_reserve THEN
            PERFORM finshard.fail('FS058', format('account %s can spend %s %s; this order needs %s (cost and commission)',
                                                  p_account_id, v_acc.balance - v_acc.reserved, v_acc.currency, v_reserve),
                                  format('balance %s, reserved by open orders and pending transfers %s', v_acc.balance, v_acc.reserved));
        END IF;
        UPDATE finshard.accounts SET reserved = reserved + v_reserve, updated_at = now() WHERE account_id = p_account_id;
    ELSE
        -- No short selling: sell at most what is held and not already offered.
        SELECT p.quantity - p.reserved_quantity INTO v_free FROM finshard.positions p
         WHERE p.account_id = p_account_id AND p.instrument_id = p_instrument_id FOR UPDATE;
        IF coalesce(v_free, 0) < p_quantity THEN
            PERFORM finshard.fail('FS059', format('account %s can sell %s of instrument %s, not %s (no short selling)',
                                                  p_account_id, coalesce(v_free, 0), p_instrument_id, p_quantity));
        END IF;
        UPDATE finshard.positions SET reserved_quantity = reserved_quantity + p_quantity, updated_at = now()
         WHERE account_id = p_account_id AND instrument_id = p_instrument_id;
    END IF;
    INSERT INTO finshard.orders (account_id, instrument_id, order_type, side, quantity, price, stop_price, time_in_force,
                                 reserved_cash, idempotency_key)
    VALUES (p_account_id, p_instrument_id, p_order_type, p_side, p_quantity, p_price, p_stop_price, p_time_in_force,
            v_reserve, p_idempotency_key)
    RETURNING order_id, created_at INTO v_order_id, v_created_at;
    -- Execute against the latest quote now; what does not fill rests (or is cancelled: market, IOC, FOK).
    PERFORM finshard._match_order(p_account_id, v_order_id, v_created_at);
    PERFORM finshard._audit(p_account_id, 'place_order',
                            jsonb_build_object('order_id', v_order_id, 'instrument_id', p_instrument_id, 'type', p_order_type,
                                               'side', p_side, 'quantity', p_quantity, 'price', p_price, 'stop_price', p_stop_price,
                                               'time_in_force', p_time_in_force));
    IF p_idempotency_key IS NOT NULL THEN
        PERFORM finshard._idempotency_finish(p_account_id, p_idempotency_key, jsonb_build_object('order_id', v_order_id));
    END IF;
    RETURN v_order_id;
END
$$;
COMMENT ON FUNCTION finshard.place_order(bigint, bigint, text, text, numeric, numeric, numeric, text, text, text) IS 'Places an order (market, limit, stop, stop_limit; buy or sell; GTC, IOC, FOK, DAY), reserving cash or quantity, and fills it at once against the latest quote where it crosses; returns order_id (see finshard.orders for its status). Idempotent with p_idempotency_key. Raises FS001, FS002, FS004 (beyond what a balance or a position holds), FS005, FS010-FS012, FS019, FS030, FS050, FS051, FS054-FS059, FS080-FS085, FS021';
REVOKE ALL ON FUNCTION finshard.place_order(bigint, bigint, text, text, numeric, numeric, numeric, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.place_order(bigint, bigint, text, text, numeric, numeric, numeric, text, text, text) TO finshard_app, finshard_admin;
