CREATE OR REPLACE FUNCTION finshard._match_on_shards(p_instrument_id bigint, p_ask_size numeric, p_bid_size numeric,
                                                     p_lot_size numeric, p_accounts bigint[], p_orders bigint[],
                                                     p_sides text[], p_created timestamptz[], p_takes numeric[],
                                                     p_fok boolean[])
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_n      integer := cardinality(p_orders);
    v_alloc  numeric[];
    v_groups integer[];
    v_reps   bigint[];
    v_fills  numeric[];
    v_got    numeric[];
    v_left   numeric;
    v_take   numeric;
    v_count  integer := 0;
    -- Here, not in the query: Citus would evaluate it on each node, as the connection's user.
    v_actor  text := finshard._audit_actor();
BEGIN
    -- On Citus, match_resting_orders' pass with every node filling its own orders at once,
    -- instead of the coordinator sending each fill's statements to its shard one by one.
    -- 1. The allocation the order-by-order loop makes when every order fills as it can at the
    --    quote: the size shared in priority order, in whole lots, fill or kill all or nothing.
    --    NULL: the size ran out before the order's turn (the loop does not call it).
    v_alloc := array_fill(NULL::numeric, ARRAY[v_n]);
    FOR v_i IN 1 .. v_n LOOP
        v_left := CASE p_sides[v_i] WHEN 'buy' THEN p_ask_size ELSE p_bid_size END;
        CONTINUE WHEN v_left <= 0;
        v_take := trunc(least(coalesce(p_takes[v_i], 0), v_left) / p_lot_size) * p_lot_size;
        IF p_fok[v_i] AND v_take < coalesce(p_takes[v_i], 0) THEN
            v_take := 0;
        END IF;
        v_alloc[v_i] := v_take;
        IF p_sides[v_i] = 'buy' THEN
            p_ask_size := p_ask_size - v_take;
        ELSE
            p_bid_size := p_bid_size - v_take;
        END IF;
    END LOOP;
    -- 2. Each order's node, and one of its accounts to address the node by.
    SELECT array_agg((SELECT p.groupid FROM pg_dist_placement p
                       WHERE p.shardid = get_shard_id_for_distribution_column('finshard.accounts', u.a) AND p.shardstate = 1
                       LIMIT 1) ORDER BY u.o)
      INTO v_groups
      FROM unnest(p_accounts) WITH ORDINALITY AS u (a, o);
    v_reps := ARRAY(SELECT min(p_accounts[i]) FROM generate_subscripts(p_orders, 1) AS i
                     WHERE v_alloc[i] IS NOT NULL GROUP BY v_groups[i]);
    -- 3. One task per node, all at once. Joining the quote's row makes Citus run each on the
    --    connection that wrote it there (its own writes are visible only there): a connection
    --    that wrote, which Citus prepares at commit, so each node's fills commit or roll back with
    --    the quote's transaction (two-phase commit); _match_resting_orders saw to the write.
    v_fills := array_fill(NULL::numeric, ARRAY[v_n]);
    FOR v_got IN
        SELECT finshard._match_orders_local(p_accounts, p_orders, p_created, v_alloc, v_groups, v_actor)
          FROM finshard.accounts a JOIN finshard.instruments i ON i.instrument_id = p_instrument_id
         WHERE a.account_id = ANY (v_reps)
    LOOP
        IF v_got IS NULL THEN
            PERFORM finshard.fail('FS009', 'a node declined its share of the resting-order pass');
        END IF;
        FOR v_i IN 1 .. v_n LOOP
            IF v_got[v_i] IS NOT NULL THEN
                v_fills[v_i] := v_got[v_i];
            END IF;
        END LOOP;
    END LOOP;
    -- 4. Every order filled exactly as allocated, or the caller rolls all of it back (a buy
    --    rejected for cash, an owner deactivated, an order changed since the scan).
    FOR v_i IN 1 .. v_n LOOP
        CONTINUE WHEN v_alloc[v_i] IS NULL;
        IF v_fills[v_i] IS DISTINCT FROM v_alloc[v_i] THEN
            PERFORM finshard.fail('FS009', format('order %s filled %s of the %s allocated to it', p_orders[v_i], v_fills[v_i], v_alloc[v_i]));
        END IF;
        v_count := v_count + (v_fills[v_i] > 0)::integer;
    END LOOP;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION finshard._match_on_shards(bigint, numeric, numeric, numeric, bigint[], bigint[], text[], timestamptz[], numeric[], boolean[]) IS 'On Citus, match_resting_orders'' pass with every node filling its own orders at once (_match_orders_local) as the coordinator allocated the quote in price-time priority; returns the orders filled, or raises FS009 (its caller rolls it back and fills order by order) when a node declines or an order did not fill as allocated';
REVOKE ALL ON FUNCTION finshard._match_on_shards(bigint, numeric, numeric, numeric, bigint[], bigint[], text[], timestamptz[], numeric[], boolean[]) FROM PUBLIC;
