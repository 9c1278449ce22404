CREATE OR REPLACE FUNCTION finshard.create_restore_point(p_name text, p_switch_wal boolean DEFAULT true)
RETURNS TABLE (node text, group_id integer, lsn pg_lsn)
LANGUAGE plpgsql
-- A restore point is an admin duty (docs/roles.md); writing one takes the superuser's WAL functions.
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_workers  record;
    v_nodes    jsonb := '[]';
    v_conns    text[] := '{}';
    v_conn     text;
    v_lsns     jsonb := '{}';
    v_lsn      pg_lsn;
    v_citus    boolean := to_regclass('pg_catalog.pg_dist_node') IS NOT NULL;
BEGIN
    -- A standby's own answer comes below (pg_cron runs this on standbys too).
    IF current_query() IS NULL OR (current_setting('transaction_read_only') = 'on' AND NOT pg_is_in_recovery())
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('create_restore_point');
    END IF;
    PERFORM finshard._not_null(p_name, 'p_name');
    PERFORM finshard._not_null(p_switch_wal, 'p_switch_wal');
    -- A name is a recovery target in every node's configuration: keep it plain.
    IF p_name !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$' THEN
        PERFORM finshard.fail('FS091', format('restore point name %s must be 1 to 63 letters, digits, _ . : -, starting with a letter or digit', quote_literal(left(p_name, 80))));
    END IF;
    IF pg_is_in_recovery() THEN
        PERFORM finshard.fail('FS093', 'a standby cannot write a restore point: run this on the primary');
    END IF;
    IF current_setting('archive_mode') = 'off' THEN
        PERFORM finshard.fail('FS093', 'WAL archiving is off on this node: a restore point could never be reached by a restore');
    END IF;
    -- The workers, read dynamically: pg_dist_node exists only where Citus is.
    IF v_citus THEN
        IF NOT (SELECT citus_is_coordinator()) THEN
            PERFORM finshard.fail('FS093', 'run this on the Citus coordinator: it writes the point on every node');
        END IF;
        EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_object('nodeid', n.nodeid, 'groupid', n.groupid, 'nodename', n.nodename,
                                                                'nodeport', n.nodeport) ORDER BY n.groupid), '[]')
                     FROM pg_catalog.pg_dist_node n WHERE n.isactive AND n.noderole = 'primary' AND n.groupid <> 0$q$
           INTO v_nodes;
    END IF;
    -- One at a time; then the name, under that lock.
    PERFORM pg_advisory_xact_lock(hashtext('finshard.create_restore_point'));
    IF EXISTS (SELECT 1 FROM finshard.restore_points r WHERE r.name = p_name) THEN
        PERFORM finshard.fail('FS092', format('a restore point named %s exists already', p_name));
    END IF;

    BEGIN
        SET LOCAL lock_timeout = '10s';
        IF v_citus THEN
            -- Pause two-phase commits on every node, not only the coordinator (which is all
            -- citus_create_restore_point pauses): a call delegated to a worker commits its
            -- cross-node transfer from that worker. A commit logs its transaction in the
            -- initiator's pg_dist_transaction before it commits, so while every node's table is
            -- locked no distributed transaction commits anywhere; those already prepared are
            -- rolled back by Citus' recovery in a cluster restored to this point.
            LOCK TABLE pg_catalog.pg_dist_transaction IN EXCLUSIVE MODE;
            FOR v_workers IN SELECT * FROM jsonb_to_recordset(v_nodes) AS n (nodeid int, groupid int, nodename text, nodeport int)
            LOOP
                v_conn := 'finshard_restore_point_' || v_workers.nodeid;
                -- As Citus itself connects: its node_conninfo (TLS, the CA) and the password it
                -- keeps for this role in pg_dist_authinfo (this node's entry, else the wildcard).
                PERFORM public.dblink_connect(v_conn,
                    format('host=%s port=%s dbname=%s user=%s connect_timeout=10 %s %s', v_workers.nodename, v_workers.nodeport,
                           quote_ident(current_database()), quote_ident(current_user), current_setting('citus.node_conninfo', true),
                           coalesce((SELECT a.authinfo FROM pg_catalog.pg_dist_authinfo a
                                      WHERE a.rolename = current_user AND a.nodeid IN (v_workers.nodeid, 0)
                                      ORDER BY a.nodeid DESC LIMIT 1), '')));
                v_conns := v_conns || v_conn;
                PERFORM public.dblink_exec(v_conn, 'BEGIN');
                PERFORM public.dblink_exec(v_conn, 'SET LOCAL lock_timeout = ''10s''');
                PERFORM public.dblink_exec(v_conn, 'LOCK TABLE pg_catalog.pg_dist_transaction IN EXCLUSIVE MODE');
            END LOOP;
        END IF;
        v_lsn := pg_create_restore_point(p_name);
        v_lsns := jsonb_build_object('0', v_lsn::text);
        node := CASE WHEN v_citus THEN 'coordinator' ELSE 'single' END; group_id := 0; lsn := v_lsn;
        RETURN NEXT;
        FOR v_workers IN SELECT * FROM jsonb_to_recordset(v_nodes) AS n (nodeid int, groupid int, nodename text, nodeport int)
        LOOP
            v_conn := 'finshard_restore_point_' || v_workers.nodeid;
            SELECT r.lsn INTO v_lsn FROM public.dblink(v_conn, format('SELECT pg_catalog.pg_create_restore_point(%L)', p_name)) AS r (lsn pg_lsn);
            v_lsns := v_lsns || jsonb_build_object(v_workers.groupid::text, v_lsn::text);
            node := v_workers.nodename || ':' || v_workers.nodeport; group_id := v_workers.groupid; lsn := v_lsn;
            RETURN NEXT;
        END LOOP;
        -- The pause ends here: the points are written.
        FOREACH v_conn IN ARRAY v_conns LOOP
            PERFORM public.dblink_exec(v_conn, 'ROLLBACK');
            IF p_switch_wal THEN
                PERFORM 1 FROM public.dblink(v_conn, 'SELECT pg_catalog.pg_switch_wal()') AS r (l pg_lsn);
            END IF;
            PERFORM public.dblink_disconnect(v_conn);
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        -- A remote transaction left open would keep that node's commits paused.
        FOREACH v_conn IN ARRAY v_conns LOOP
            BEGIN
                PERFORM public.dblink_disconnect(v_conn);
            EXCEPTION WHEN OTHERS THEN
                NULL;
            END;
        END LOOP;
        IF SQLSTATE LIKE 'FS%' THEN
            RAISE;
        END IF;
        PERFORM finshard.fail('FS094', format('the restore point was not written: %s', SQLERRM));
    END;
    -- Switching to a new WAL segment sends the point to the repository now, not at archive_timeout.
    IF p_switch_wal THEN
        PERFORM pg_switch_wal();
    END IF;
    INSERT INTO finshard.restore_points (name, created_at, lsns) VALUES (p_name, clock_timestamp(), v_lsns);
END
$$;
COMMENT ON FUNCTION finshard.create_restore_point(text, boolean) IS 'Writes a restore point named p_name on every node at one instant (two-phase commits paused on every node meanwhile), records each node''s LSN in finshard.restore_points and, with p_switch_wal, sends it to the WAL archive at once. Raises FS001, FS091 (name), FS092 (name taken), FS093 (standby, no archiving, not the coordinator), FS094 (a node could not be paused or reached)';
REVOKE ALL ON FUNCTION finshard.create_restore_point(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.create_restore_point(text, boolean) TO finshard_admin;
