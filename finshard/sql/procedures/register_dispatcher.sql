CREATE OR REPLACE FUNCTION finshard.register_dispatcher()
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('register_dispatcher');
    END IF;
    -- Already registered: the lock is held once, so that closing the session releases it.
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid() AND l.granted AND l.mode = 'ExclusiveLock'
                  AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = finshard._dispatcher_key()) THEN
        RETURN true;
    END IF;
    -- A session-level lock, held until this session ends, however it ends. Money transactions with
    -- notify_delivery auto try it shared without waiting, and queue while it is held or awaited; a
    -- try would nearly always find one of them holding it, so this waits (lock_timeout) for those.
    PERFORM pg_advisory_lock(finshard._dispatcher_key());
    RETURN true;
EXCEPTION WHEN lock_not_available THEN
    -- Another dispatcher is registered (or a transaction ran for longer than the timeout).
    RETURN false;
END
$$;
COMMENT ON FUNCTION finshard.register_dispatcher() IS 'Registers this session as the node''s notification dispatcher until it disconnects: with notify_delivery auto (the default), money transactions on this node then queue their notifications for dispatch_notifications() instead of sending them at commit. Returns false when another session is registered (after waiting up to 2 s). finshard notifications dispatch --follow calls it';
REVOKE ALL ON FUNCTION finshard.register_dispatcher() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.register_dispatcher() TO finshard_admin;
