CREATE OR REPLACE FUNCTION finshard._match_resting_orders(p_instrument_id bigint, p_quote_written boolean)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_quote    record;
    v_accounts bigint[];
    v_orders   bigint[];
    v_sides    text[];
    v_created  timestamptz[];
    v_takes    numeric[];
    v_fok      boolean[];
    v_account  bigint;
    v_i        integer;
    v_left     numeric;
    v_filled   numeric;
    v_count    integer := 0;
    v_pass     boolean;
BEGIN
    -- No end user: the audit entries this may write (fills, expiries) name none, whatever a caller SET.
    PERFORM pg_catalog.set_config('finshard.on_behalf_of', '', true);
    PERFORM finshard._not_null(p_instrument_id, 'p_instrument_id');
    -- On Citus each node's share of the pass runs on the connection that wrote the quote's row
    -- there, which Citus then prepares (_match_on_shards): update_quotes wrote it; otherwise write
    -- it now, before any read of a table that refers to it (Citus refuses the write after one).
    v_pass := current_setting('citus.version', true) IS NOT NULL;
    IF v_pass AND NOT p_quote_written THEN
        BEGIN
            UPDATE finshard.instruments SET quoted_at = quoted_at WHERE instrument_id = p_instrument_id;
        EXCEPTION WHEN OTHERS THEN
            -- Refused after a parallel read in the caller's transaction block: order by order then.
            v_pass := false;
        END;
    END IF;
    SELECT i.bid_price, i.bid_size, i.ask_price, i.ask_size, i.lot_size INTO v_quote
      FROM finshard.instruments i WHERE i.instrument_id = p_instrument_id;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS050', format('instrument %s does not exist', p_instrument_id));
    END IF;
    IF v_quote.bid_price IS NULL THEN
        RETURN 0;
    END IF;
    -- The quote's size is shared: resting orders take it in price-time priority (best price first,
    -- stops and earlier orders before later ones at the same price). One scan of every shard's
    -- open-order index finds the candidates; each fill then runs on its own account's shard.
    -- With each, what it would take when it fills in full at the quote's price (NULL when its
    -- limit does not allow that price: a triggered stop limit), and whether it is fill or kill.
    SELECT array_agg(c.account_id ORDER BY c.prio), array_agg(c.order_id ORDER BY c.prio), array_agg(c.side ORDER BY c.prio),
           array_agg(c.created_at ORDER BY c.prio), array_agg(c.takes ORDER BY c.prio), array_agg(c.fok ORDER BY c.prio)
      INTO v_accounts, v_orders, v_sides, v_created, v_takes, v_fok
      FROM (SELECT o.account_id, o.order_id, o.side, o.created_at, o.time_in_force = 'FOK' AS fok,
                   CASE WHEN o.order_type IN ('market', 'stop') OR (o.side = 'buy' AND v_quote.ask_price <= o.price)
                                                              OR (o.side = 'sell' AND v_quote.bid_price >= o.price)
                        THEN o.quantity - o.filled_quantity END AS takes,
                   row_number() OVER (ORDER BY o.side, CASE WHEN o.side = 'buy' THEN -coalesce(o.price, 1e12) ELSE coalesce(o.price, 0) END,
                                               o.created_at, o.order_id) AS prio
              FROM finshard.orders o
             WHERE o.instrument_id = p_instrument_id AND o.status IN ('new', 'partially_filled')
               -- A frozen account's orders rest (_match_order): the size goes to the next ones.
               AND NOT EXISTS (SELECT 1 FROM finshard.accounts a WHERE a.account_id = o.account_id AND a.status = 'frozen')
               AND ((o.side = 'buy' AND ((o.order_type = 'limit' AND o.price >= v_quote.ask_price)
                                         OR (o.order_type IN ('stop', 'stop_limit') AND (o.triggered OR o.stop_price <= v_quote.ask_price))))
                 OR (o.side = 'sell' AND ((o.order_type = 'limit' AND o.price <= v_quote.bid_price)
                                         OR (o.order_type IN ('stop', 'stop_limit') AND (o.triggered OR o.stop_price >= v_quote.bid_price)))))) c;
    IF v_orders IS NULL THEN
        RETURN 0;
    END IF;
    -- On Citus, every node fills its own orders at once (_match_on_shards); when it cannot (a node
    -- declines, or an order did not fill as allocated), what it did is rolled back and the
    -- coordinator fills order by order below.
    IF v_pass THEN
        BEGIN
            RETURN finshard._match_on_shards(p_instrument_id, v_quote.ask_size, v_quote.bid_size, v_quote.lot_size,
                                             v_accounts, v_orders, v_sides, v_created, v_takes, v_fok);
        EXCEPTION WHEN OTHERS THEN
            -- In the server log: a pass that falls back often costs the speed it exists for.
            RAISE LOG 'match_resting_orders(%): filling order by order: %', p_instrument_id, SQLERRM;
        END;
    END IF;
    -- Lock every account involved in account id order before filling in priority order: two quote
    -- updates (or a quote update and a transfer) then never wait on each other in a cycle.
    FOR v_account IN SELECT DISTINCT a FROM unnest(v_accounts) a ORDER BY 1 LOOP
        PERFORM 1 FROM finshard.accounts a WHERE a.account_id = v_account FOR UPDATE;
    END LOOP;
    FOR v_i IN 1 .. array_length(v_orders, 1)
    LOOP
        v_left := CASE v_sides[v_i] WHEN 'buy' THEN v_quote.ask_size ELSE v_quote.bid_size END;
        CONTINUE WHEN v_left <= 0;
        v_filled := finshard._match_order(v_accounts[v_i], v_orders[v_i], v_created[v_i], v_left);
        IF v_sides[v_i] = 'buy' THEN
            v_quote.ask_size := v_quote.ask_size - v_filled;
        ELSE
            v_quote.bid_size := v_quote.bid_size - v_filled;
        END IF;
        v_count := v_count + (v_filled > 0)::integer;
    END LOOP;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION finshard._match_resting_orders(bigint, boolean) IS 'match_resting_orders'' work; p_quote_written: this transaction wrote the instrument''s quote row already (update_quotes)';
REVOKE ALL ON FUNCTION finshard._match_resting_orders(bigint, boolean) FROM PUBLIC;
