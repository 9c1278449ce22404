CREATE OR REPLACE FUNCTION finshard._notify_now(p_mode text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_send boolean;
BEGIN
    -- A caller that already read the setting with its own first statement passes it (one statement
    -- fewer on the hot path); the others read it here.
    IF p_mode IS NULL THEN
        SELECT s.value INTO p_mode FROM finshard.settings s WHERE s.key = 'notify_delivery';
    END IF;
    -- auto (the default): queue while a dispatcher is registered on this node (its session holds
    -- the lock exclusively, so the shared try fails); send now otherwise, so that LISTEN works
    -- without one. Once taken, the shared lock is held to the end of the transaction: a
    -- dispatcher registering meanwhile waits for the transactions that send their own.
    v_send := CASE coalesce(p_mode, 'auto')
                  WHEN 'immediate' THEN true
                  WHEN 'deferred' THEN false
                  ELSE pg_try_advisory_xact_lock_shared(finshard._dispatcher_key()) END;
    -- Send now unless delivery is deferred, or unless this is a worker's part of another node's
    -- transaction: Citus will PREPARE that transaction, and PREPARE refuses one that sent NOTIFY. Such a worker transaction got its distributed transaction id from another
    -- node (a delegated autocommit call gets none). Unsent rows wait for dispatch_notifications().
    IF v_send AND current_setting('application_name') LIKE 'citus_internal%'
       AND current_setting('citus.version', true) IS NOT NULL THEN
        -- Dynamic SQL: plain PostgreSQL has no get_current_transaction_id().
        EXECUTE 'SELECT NOT (t.transaction_number <> 0 AND t.initiator_node_identifier <> (SELECT groupid FROM pg_dist_local_group))
                   FROM get_current_transaction_id() t' INTO v_send;
    END IF;
    RETURN v_send;
END
$$;
COMMENT ON FUNCTION finshard._notify_now(text) IS 'Whether a notification created now is sent with pg_notify at once (true) or left for dispatch_notifications() (false); p_mode: the notify_delivery setting when the caller has read it';
REVOKE ALL ON FUNCTION finshard._notify_now(text) FROM PUBLIC;
