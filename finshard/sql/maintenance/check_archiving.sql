CREATE OR REPLACE FUNCTION finshard.check_archiving(p_max_lag interval DEFAULT interval '10 minutes', p_raise boolean DEFAULT true)
RETURNS TABLE (node text, archive_mode text, state text, archived_count bigint, last_archived_wal text,
               last_archived_time timestamptz, failed_count bigint, last_failed_wal text, last_failed_time timestamptz,
               ready_files bigint, oldest_ready timestamptz)
LANGUAGE plpgsql
-- pg_stat_archiver is public, the archive status directory is not (pg_monitor): read as the owner.
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- One JSON value per node: the same query here and, through Citus, on every worker.
    v_query  text := $q$SELECT json_build_object('archive_mode', current_setting('archive_mode'),
        'archived_count', a.archived_count, 'last_archived_wal', a.last_archived_wal, 'last_archived_time', a.last_archived_time,
        'failed_count', a.failed_count, 'last_failed_wal', a.last_failed_wal, 'last_failed_time', a.last_failed_time,
        'ready_files', r.n, 'oldest_ready', r.oldest)::text
      FROM pg_catalog.pg_stat_archiver a,
           (SELECT count(*) AS n, min(s.modification) AS oldest FROM pg_catalog.pg_ls_archive_statusdir() s
             WHERE s.name LIKE '%.ready') r$q$;
    v_nodes  text[] := ARRAY[]::text[];
    v_node   record;
    v_j      jsonb;
    v_bad    text[] := ARRAY[]::text[];
    v_local  text;
    v_citus  boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus');
BEGIN
    PERFORM finshard._not_null(p_max_lag, 'p_max_lag');
    PERFORM finshard._not_null(p_raise, 'p_raise');
    EXECUTE v_query INTO v_local;
    v_nodes := ARRAY[CASE WHEN v_citus THEN 'coordinator' ELSE 'local' END, v_local];
    IF v_citus THEN
        FOR v_node IN EXECUTE 'SELECT nodename || '':'' || nodeport AS name, success, result FROM run_command_on_workers($1) ORDER BY 1'
                      USING v_query LOOP
            v_nodes := v_nodes || ARRAY[v_node.name, CASE WHEN v_node.success THEN v_node.result
                                                          ELSE json_build_object('unreachable', v_node.result)::text END];
        END LOOP;
    END IF;
    FOR i IN 1 .. array_length(v_nodes, 1) / 2 LOOP
        node := v_nodes[2 * i - 1];
        v_j := v_nodes[2 * i]::jsonb;
        archive_mode := v_j->>'archive_mode';
        archived_count := (v_j->>'archived_count')::bigint;
        last_archived_wal := v_j->>'last_archived_wal';
        last_archived_time := (v_j->>'last_archived_time')::timestamptz;
        failed_count := (v_j->>'failed_count')::bigint;
        last_failed_wal := v_j->>'last_failed_wal';
        last_failed_time := (v_j->>'last_failed_time')::timestamptz;
        ready_files := (v_j->>'ready_files')::bigint;
        oldest_ready := (v_j->>'oldest_ready')::timestamptz;
        -- Off is a configuration, reported, not an alarm; a failure since the last success is.
        state := CASE WHEN v_j ? 'unreachable' THEN 'unreachable'
                      WHEN archive_mode = 'off' THEN 'off'
                      WHEN last_failed_time IS NOT NULL AND (last_archived_time IS NULL OR last_failed_time > last_archived_time) THEN 'failing'
                      WHEN oldest_ready < now() - p_max_lag THEN 'behind'
                      ELSE 'ok' END;
        IF state IN ('unreachable', 'failing', 'behind') THEN
            v_bad := v_bad || format('%s %s%s', node, state,
                CASE state WHEN 'failing' THEN format(' (%s failed at %s)', last_failed_wal, last_failed_time)
                           WHEN 'behind' THEN format(' (%s WAL files waiting, the oldest since %s)', ready_files, oldest_ready)
                           ELSE format(' (%s)', v_j->>'unreachable') END);
        END IF;
        RETURN NEXT;
    END LOOP;
    IF p_raise AND cardinality(v_bad) > 0 THEN
        PERFORM finshard.fail('FS077', format('WAL archiving: %s', array_to_string(v_bad, '; ')));
    END IF;
END
$$;
COMMENT ON FUNCTION finshard.check_archiving(interval, boolean) IS 'WAL archiving on every node (pg_stat_archiver and the archive status directory; on Citus the coordinator and each worker): state off, ok, failing (a failure since the last success), behind (a WAL file waiting longer than p_max_lag) or unreachable. With p_raise (default) raises FS077 naming each failing, late or unreachable node; archive_mode off is reported, not raised. Raises FS001, FS077';
REVOKE ALL ON FUNCTION finshard.check_archiving(interval, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.check_archiving(interval, boolean) TO finshard_admin, finshard_readonly;
