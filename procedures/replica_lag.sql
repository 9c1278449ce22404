CREATE OR REPLACE FUNCTION finshard.replica_lag()
RETURNS double precision
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    -- SECURITY DEFINER: pg_stat_wal_receiver shows its status only to pg_read_all_stats.
    SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN 0
        WHEN w.status IS DISTINCT FROM 'streaming' THEN 'Infinity'::float8
        WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
        ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp()))::float8
    END
    FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver w ON true
$$;
COMMENT ON FUNCTION finshard.replica_lag() IS 'How far this node''s data is behind its primary, in seconds: 0 on a primary and on a standby that has replayed all it received; Infinity on a standby that is not streaming. The router reads it before sending a read to a standby (reads => replica)';
REVOKE ALL ON FUNCTION finshard.replica_lag() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.replica_lag() TO finshard_app, finshard_market, finshard_admin, finshard_readonly;
