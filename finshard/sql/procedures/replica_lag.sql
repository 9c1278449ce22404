CREATE OR REPLACE FUNCTION finshard.replica_lag(p_primary_lsn pg_lsn DEFAULT NULL)
RETURNS double precision
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    -- SECURITY DEFINER: pg_stat_wal_receiver shows its status only to pg_read_all_stats.
    -- A standby that has replayed what it received may still have received little: given the
    -- primary's current LSN, it is caught up only once it has replayed up to it.
    SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN 0
        WHEN w.status IS DISTINCT FROM 'streaming' THEN 'Infinity'::float8
        WHEN pg_last_wal_replay_lsn() >= coalesce(p_primary_lsn, pg_last_wal_receive_lsn()) THEN 0
        ELSE coalesce(greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp()))::float8,
                      'Infinity'::float8)
    END
    FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver w ON true
$$;
COMMENT ON FUNCTION finshard.replica_lag(pg_lsn) IS 'How far this node''s data is behind its primary, in seconds: 0 on a primary and on a standby that has replayed up to p_primary_lsn (the primary''s pg_current_wal_lsn(); without it, all it received); otherwise the age of the last replayed commit; Infinity on a standby that is not streaming. The router reads it before sending a read to a standby (reads => replica)';
REVOKE ALL ON FUNCTION finshard.replica_lag(pg_lsn) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.replica_lag(pg_lsn) TO finshard_app, finshard_market, finshard_admin, finshard_readonly;
