CREATE OR REPLACE FUNCTION finshard.sync_local_shards(p_attach boolean DEFAULT true)
RETURNS integer
LANGUAGE plpgsql
-- The attaching is DDL on Citus' shards on every node: as the installing superuser.
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_total integer := 0;
    v_step  text;
    r       record;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('sync_local_shards');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        RETURN 0;
    END IF;
    PERFORM finshard._not_null(p_attach, 'p_attach');
    -- Not while an install or upgrade runs (it detaches before its migrations and attaches after),
    -- unless this is that install's own call.
    IF current_setting('finshard.installer', true) IS DISTINCT FROM 'python'
       AND NOT pg_try_advisory_xact_lock_shared(hashtext('finshard.install')) THEN
        RETURN 0;
    END IF;
    -- Every node, each step in a transaction of its own there (_local_shards says why).
    -- The count returned is the last step's: shards attached (or detached), not CHECKs added.
    FOREACH v_step IN ARRAY CASE WHEN p_attach THEN ARRAY['constrain', 'validate', 'attach'] ELSE ARRAY['detach'] END LOOP
        v_total := 0;
        FOR r IN EXECUTE format('SELECT n.nodename, n.nodeport, x.success, x.result FROM run_command_on_all_nodes(%L) x '
                                'JOIN pg_dist_node n USING (nodeid) ORDER BY n.groupid',
                                format('SELECT finshard._local_shards(%L)', v_step))
        LOOP
            IF NOT r.success THEN
                PERFORM finshard.fail('FS096', format('node %s:%s could not %s its local shards: %s', r.nodename, r.nodeport,
                                                      v_step, r.result));
            END IF;
            v_total := v_total + r.result::integer;
        END LOOP;
    END LOOP;
    RETURN v_total;
END
$$;
COMMENT ON FUNCTION finshard.sync_local_shards(boolean) IS 'On Citus: every node attaches the shards it holds to its finshard_local stand-ins (detaches them all with false), which lets same-node transfers run as one statement; after shard moves and splits, by the finshard-local-shards job every minute. Returns the shards and stand-ins attached or detached; FS096 when a node fails. On plain PostgreSQL returns 0';
REVOKE ALL ON FUNCTION finshard.sync_local_shards(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.sync_local_shards(boolean) TO finshard_admin;
