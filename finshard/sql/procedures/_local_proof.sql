CREATE OR REPLACE FUNCTION finshard._local_proof(p_shards bigint[])
RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    -- Whether these shards (of finshard.accounts: a shard group attaches whole) are active
    -- placements of this Citus node and attached to its stand-ins, proven so that they stay here
    -- until this transaction ends. Citus' own writes take the shard group's metadata lock in share
    -- mode and read the placement after it; moves and splits take it in exclusive mode on every
    -- node before they switch placements (a split removes the old shard's). Read committed only
    -- (the caller checks): the statement after the lock must see what committed before it.
    IF coalesce(cardinality(p_shards), 0) = 0 THEN
        RETURN false;  -- nothing named, nothing proven
    END IF;
    PERFORM pg_catalog.lock_shard_metadata(5, p_shards);
    -- Shard by shard, through the three catalogs' indexes: a cached generic plan of one join on
    -- = ANY (p_shards) merge-joins pg_inherits from its first row.
    RETURN NOT EXISTS (
        SELECT 1 FROM unnest(p_shards) AS s (shardid)
         WHERE NOT EXISTS (
             SELECT 1
               FROM finshard_local.shards m
               JOIN pg_catalog.pg_inherits i ON i.inhrelid = m.relid AND i.inhparent = 'finshard_local.accounts'::regclass
               JOIN pg_catalog.pg_dist_placement p ON p.shardid = m.shardid AND p.shardstate = 1
              WHERE m.shardid = s.shardid
                AND p.groupid = (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g)));
END
$$;
COMMENT ON FUNCTION finshard._local_proof(bigint[]) IS 'On a Citus node, under Citus'' shard metadata lock (held to the end of the transaction): whether the accounts shards p_shards are active placements here and attached to finshard_local. Called by _transfer_cross, _transfer_credit_local and _match_orders_local';
REVOKE ALL ON FUNCTION finshard._local_proof(bigint[]) FROM PUBLIC;
