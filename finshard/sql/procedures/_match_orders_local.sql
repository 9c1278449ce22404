-- finshard._match_order_local and the helpers it calls: _match_order, _fill, _close_order,
-- _post_entry, _account_problem, _notify and _notify_now, run on this Citus node's own shards; and
-- _transfer_checks, which a cross-node transfer runs on its source's node (_transfer_cross).
-- Generated from their source, not written twice: each finshard table they name is read from
-- finshard_local instead (_local_shards), each of them calls the others' _local forms, their
-- /*on shards: ...*/ comments become terms (they prune each scan to the account's shard), and the
-- audit's actor is the caller's, which the first of them is given (on a node running a task,
-- session_user is the connection Citus opened). Generated at install: after replacing one of them
-- by hand, run finshard install again.
DO $gen$
DECLARE
    v_family constant text[] := ARRAY['_match_order', '_fill', '_close_order', '_post_entry', '_account_problem',
                                      '_notify', '_notify_now', '_transfer_checks'];
    -- Run by the node that called, at the top of its own transaction, not inside a Citus task:
    -- these may call the helpers that say why a call is refused (_caller reads sessions through
    -- Citus), and no task-side function may call them.
    v_caller_side constant text[] := ARRAY['_transfer_checks'];
    v_caller_calls constant text[] := ARRAY['_caller', '_check_amount', '_check_text'];
    v_def  text;
    v_name text;
    v_fn   text;
    -- Functions the family may call as they are: they read no table.
    v_pure constant text[] := ARRAY['fail', '_fee', '_cash_amount', '_next_instant', '_audit_hash', '_key', '_signal',
                                    '_dispatcher_key', '_not_null'];
    v_check text := current_setting('check_function_bodies');
BEGIN
    -- A variable of a finshard_local row type (_account_problem's) names a schema that exists
    -- only on Citus nodes, once sync_local_shards has run: not checked now.
    PERFORM set_config('check_function_bodies', 'off', true);
    FOREACH v_fn IN ARRAY v_family LOOP
        SELECT pg_catalog.pg_get_functiondef(p.oid) INTO v_def FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'finshard'::regnamespace AND p.proname = v_fn;
        IF v_def IS NULL THEN
            PERFORM finshard.fail('FS009', format('finshard.%s is missing: _match_order_local cannot be generated', v_fn));
        END IF;
        v_def := regexp_replace(v_def, '/\*on shards: (.*?) \*/', '\1', 'g');
        FOREACH v_name IN ARRAY v_family LOOP
            v_def := regexp_replace(v_def, '\mfinshard\.' || v_name || '\(', 'finshard.' || v_name || '_local(', 'g');
        END LOOP;
        v_def := replace(v_def, 'finshard._audit_actor()', 'pg_catalog.current_setting(''finshard.pass_actor'')');
        FOR v_name IN SELECT DISTINCT m[1] FROM regexp_matches(v_def, '\mfinshard\.([a-z_]+)\M', 'g') AS m LOOP
            IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = to_regclass('finshard.' || v_name)) IN ('r', 'p') THEN
                v_def := regexp_replace(v_def, '\mfinshard\.' || v_name || '\M', 'finshard_local.' || v_name, 'g');
            END IF;
        END LOOP;
        -- What is left must not reach Citus from inside a node's task: no finshard table or view,
        -- and no finshard function but the family's and pure helpers (sequences and types are fine);
        -- a caller-side function also its listed helpers, and a task-side one none of those.
        SELECT string_agg(DISTINCT m[1], ', ') INTO v_name
          FROM regexp_matches(v_def, '\mfinshard\.([a-z_]+)\M(\s*\()?', 'g') AS m
         WHERE (m[2] IS NULL AND (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = to_regclass('finshard.' || m[1]))
                                 IN ('r', 'p', 'v', 'm', 'f'))
            OR (m[2] IS NOT NULL AND NOT (m[1] = ANY (v_pure)
                                          OR (m[1] LIKE '%\_local' AND (v_fn = ANY (v_caller_side)
                                                                        OR NOT left(m[1], -6) = ANY (v_caller_side)))
                                          OR (v_fn = ANY (v_caller_side) AND m[1] = ANY (v_caller_calls))));
        IF v_name IS NOT NULL THEN
            PERFORM finshard.fail('FS009', format('finshard.%s_local would name %s, which a node''s pass must not reach', v_fn, v_name));
        END IF;
        EXECUTE v_def;
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC',
                       (SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
                         WHERE p.pronamespace = 'finshard'::regnamespace AND p.proname = v_fn || '_local'));
        EXECUTE format('COMMENT ON FUNCTION %s IS %L',
                       (SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
                         WHERE p.pronamespace = 'finshard'::regnamespace AND p.proname = v_fn || '_local'),
                       format('Generated from finshard.%s: the same, on this Citus node''s shards (finshard_local); called by %s only', v_fn,
                              CASE WHEN v_fn = ANY (v_caller_side) THEN '_transfer_cross' ELSE '_match_orders_local and _transfer_credit_local' END));
    END LOOP;
    PERFORM set_config('check_function_bodies', v_check, true);
END
$gen$;

CREATE OR REPLACE FUNCTION finshard._match_orders_local(p_accounts bigint[], p_orders bigint[], p_created timestamptz[],
                                                        p_alloc numeric[], p_groups integer[], p_actor text)
RETURNS numeric[]
LANGUAGE plpgsql
-- One plan per statement, cached: only finshard_local is named (no Citus table, no Citus plan leak).
SET plan_cache_mode = force_generic_plan
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_group    integer;
    v_mine     integer[];
    v_accounts bigint[];
    v_shards   bigint[];
    v_fills    numeric[];
    v_i        integer;
BEGIN
    -- One node's share of match_resting_orders' pass, run on its own shards inside the
    -- coordinator's transaction (on a connection that wrote the quote, so Citus prepares it):
    -- the orders of p_groups = this node, each filled by _match_order_local with at most the
    -- quantity the coordinator allocated in price-time priority. Returns each order's fill at its
    -- index (NULL for other nodes' orders), or NULL, having done nothing, when it cannot prove the
    -- shards are here and attached, or an account is locked (it never waits for a row lock: a pass
    -- that waits while holding others' rows could close a deadlock cycle across nodes).
    IF to_regclass('finshard_local.orders') IS NULL OR current_setting('transaction_isolation') <> 'read committed'
       OR cardinality(p_orders) IS DISTINCT FROM cardinality(p_groups) OR p_actor IS NULL THEN
        RETURN NULL;
    END IF;
    -- The audit names the coordinator's caller and no end user, as the order-by-order loop does
    -- (a setting made there does not reach this node).
    PERFORM set_config('finshard.pass_actor', p_actor, true);
    PERFORM set_config('finshard.on_behalf_of', '', true);
    SELECT g.groupid INTO v_group FROM pg_dist_local_group g;
    v_fills := array_fill(NULL::numeric, ARRAY[cardinality(p_orders)]);
    -- Its orders whose turn comes (NULL allocation: the size ran out before it).
    v_mine := ARRAY(SELECT i FROM generate_subscripts(p_orders, 1) AS i
                     WHERE p_groups[i] = v_group AND p_alloc[i] IS NOT NULL ORDER BY i);
    IF cardinality(v_mine) = 0 THEN
        RETURN v_fills;
    END IF;
    v_accounts := ARRAY(SELECT DISTINCT p_accounts[i] FROM unnest(v_mine) AS i ORDER BY 1);
    v_shards := ARRAY(SELECT DISTINCT get_shard_id_for_distribution_column('finshard.accounts', a) FROM unnest(v_accounts) AS a ORDER BY 1);
    IF NOT finshard._local_proof(v_shards) THEN
        RETURN NULL;
    END IF;
    BEGIN
        PERFORM 1 FROM finshard_local.accounts a WHERE a.account_id = ANY (v_accounts) ORDER BY a.account_id FOR UPDATE NOWAIT;
    EXCEPTION WHEN lock_not_available THEN
        RETURN NULL;
    END;
    FOREACH v_i IN ARRAY v_mine LOOP
        v_fills[v_i] := finshard._match_order_local(p_accounts[v_i], p_orders[v_i], p_created[v_i], p_alloc[v_i]);
    END LOOP;
    RETURN v_fills;
END
$$;
COMMENT ON FUNCTION finshard._match_orders_local(bigint[], bigint[], timestamptz[], numeric[], integer[], text) IS 'On a Citus node, its share of a match_resting_orders pass: fills the orders p_groups assigns to this node with at most their allocated quantity, on its own shards; returns the fills by index, or NULL (nothing done) when the shards are not provably here or an account is locked. Called by match_resting_orders only';
REVOKE ALL ON FUNCTION finshard._match_orders_local(bigint[], bigint[], timestamptz[], numeric[], integer[], text) FROM PUBLIC;
