CREATE OR REPLACE FUNCTION finshard._notify_now()
RETURNS boolean
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_send boolean;
BEGIN
    -- Send now unless delivery is deferred, or unless this is the worker side of a client's
    -- multi-node transaction block: Citus will PREPARE that transaction, and PREPARE refuses one
    -- that sent NOTIFY. Such a worker transaction got its distributed transaction id from another
    -- node (a delegated autocommit call gets none). Unsent rows wait for dispatch_notifications().
    v_send := coalesce((SELECT s.value FROM finshard.settings s WHERE s.key = 'notify_delivery'), 'immediate') = 'immediate';
    IF v_send AND current_setting('application_name') LIKE 'citus_internal%' THEN
        -- Dynamic SQL: plain PostgreSQL has no get_current_transaction_id().
        EXECUTE 'SELECT NOT (t.transaction_number <> 0 AND t.initiator_node_identifier <> (SELECT groupid FROM pg_dist_local_group))
                   FROM get_current_transaction_id() t' INTO v_send;
    END IF;
    RETURN v_send;
END
$$;
COMMENT ON FUNCTION finshard._notify_now() IS 'Whether a notification created now is sent with pg_notify at once (true) or left for dispatch_notifications() (false)';
REVOKE ALL ON FUNCTION finshard._notify_now() FROM PUBLIC;
