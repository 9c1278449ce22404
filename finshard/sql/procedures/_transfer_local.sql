-- finshard._transfer_local: transfer's one statement, run on this Citus node's own shards.
-- Generated from transfer's source, not written twice: the statement between its two marker
-- lines, with each finshard table it names read from finshard_local instead (_local_shards), and
-- its shard-pruning terms, comments there, made terms.
DO $gen$
DECLARE
    v_src  text;
    v_stmt text;
    v_name text;
BEGIN
    SELECT p.prosrc INTO v_src FROM pg_catalog.pg_proc p
     WHERE p.oid = 'finshard.transfer(bigint,bigint,numeric,text,text,text)'::regprocedure;
    v_stmt := substring(v_src FROM '-- finshard: the one statement begins[^\n]*\n(.*)\n[ ]*-- finshard: the one statement ends');
    IF v_stmt IS NULL THEN
        PERFORM finshard.fail('FS009', 'finshard.transfer has no one-statement block to copy into _transfer_local');
    END IF;
    -- Its /*on shards: ...*/ comments become terms: they prune each scan to the account's shard.
    v_stmt := regexp_replace(v_stmt, '/\*on shards: (.*?) \*/', '\1', 'g');
    -- Tables only: the functions, types and sequences it names stay where they are.
    FOR v_name IN SELECT DISTINCT m[1] FROM regexp_matches(v_stmt, '\mfinshard\.([a-z_]+)\M', 'g') AS m LOOP
        IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = to_regclass('finshard.' || v_name)) IN ('r', 'p') THEN
            v_stmt := regexp_replace(v_stmt, '\mfinshard\.' || v_name || '\M', 'finshard_local.' || v_name, 'g');
        END IF;
    END LOOP;
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION finshard._transfer_local(p_from_account_id bigint, p_to_account_id bigint, p_amount numeric,
                                                    p_idempotency_key text, p_description text, p_session text,
                                                    v_user bigint, v_clock timestamptz, v_ids bigint[], transfer_id bigint,
                                                    OUT v_moved bigint, OUT from_balance numeric, OUT to_balance numeric)
LANGUAGE plpgsql
-- One plan, cached: no Citus table is named below, so Citus' plan leak does not apply. The rest
-- of its settings (search_path, no sequential or bitmap scans) are transfer's, its one caller.
SET plan_cache_mode = force_generic_plan
AS $b$
DECLARE
    v_shards bigint[];
BEGIN
    -- Nothing done (NULLs: the per-leg path follows) unless both accounts' shards are active
    -- placements of this node and attached, proven under Citus' shard metadata lock: Citus' own
    -- writes take it in share mode, and shard moves and splits in exclusive mode before they
    -- switch placements (a split removes the old shard's), so the shards stay here until this
    -- transaction ends. Read committed only: the check after the lock must see what committed
    -- before it.
    -- And not with Citus' local execution off: its later commands in this transaction would go
    -- over a loopback connection that cannot see these writes.
    IF p_from_account_id IS NULL OR p_to_account_id IS NULL OR to_regclass('finshard_local.accounts') IS NULL
       OR current_setting('transaction_isolation') <> 'read committed'
       OR current_setting('citus.enable_local_execution') = 'off' THEN
        RETURN;
    END IF;
    v_shards := ARRAY[get_shard_id_for_distribution_column('finshard.accounts', p_from_account_id),
                      get_shard_id_for_distribution_column('finshard.accounts', p_to_account_id)];
    IF v_shards[1] = v_shards[2] THEN
        v_shards := v_shards[1:1];
    ELSIF v_shards[1] > v_shards[2] THEN
        v_shards := ARRAY[v_shards[2], v_shards[1]];
    END IF;
    -- A shard not attached here (the destination on another node, mostly): nothing to prove.
    IF (SELECT count(*) FROM finshard_local.shards m WHERE m.shardid = ANY (v_shards)) <> cardinality(v_shards) THEN
        RETURN;
    END IF;
    PERFORM lock_shard_metadata(5, v_shards);
    -- The proof (_local_proof's, inlined here to save a call), then both rows
    -- locked in id order, the lock order of every movement (the statement's scan over two
    -- partitions would lock them in partition order).
    PERFORM 1 FROM finshard_local.accounts a
      WHERE a.account_id IN (p_from_account_id, p_to_account_id)
        AND hashint8(a.account_id) IN (hashint8(p_from_account_id), hashint8(p_to_account_id))
        AND NOT EXISTS (
            SELECT 1 FROM unnest(v_shards) AS s (shardid)
             WHERE NOT EXISTS (
                 SELECT 1
                   FROM finshard_local.shards m
                   JOIN pg_catalog.pg_inherits i ON i.inhrelid = m.relid AND i.inhparent = 'finshard_local.accounts'::regclass
                   JOIN pg_dist_placement p ON p.shardid = m.shardid AND p.shardstate = 1
                  WHERE m.shardid = s.shardid AND p.groupid = (SELECT g.groupid FROM pg_dist_local_group g)))
      ORDER BY a.account_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;  -- not here, or no such accounts: the per-leg path says which
    END IF;
%s
END
$b$;
$f$, v_stmt);
END
$gen$;
COMMENT ON FUNCTION finshard._transfer_local(bigint, bigint, numeric, text, text, text, bigint, timestamptz, bigint[], bigint) IS 'Generated from transfer''s one statement: runs it on this Citus node''s shards (finshard_local) when both accounts are active and attached here, under Citus'' shard metadata lock; returns NULLs (nothing done) otherwise. Called by transfer only';
REVOKE ALL ON FUNCTION finshard._transfer_local(bigint, bigint, numeric, text, text, text, bigint, timestamptz, bigint[], bigint) FROM PUBLIC;
