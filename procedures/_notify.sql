CREATE OR REPLACE FUNCTION finshard._notify(p_account_id bigint, p_user_id bigint, p_kind text,
                                            p_message text, p_payload jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_id     bigint;
    v_send   boolean;
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
    INSERT INTO finshard.notifications (account_id, user_id, kind, message, payload, sent_at)
    VALUES (p_account_id, p_user_id, p_kind, p_message, p_payload, CASE WHEN v_send THEN now() END)
    RETURNING notification_id INTO v_id;
    IF v_send THEN
        -- Delivered at commit to LISTEN finshard_events sessions on the node that ran the call.
        PERFORM pg_notify('finshard_events',
                          jsonb_build_object('notification_id', v_id, 'account_id', p_account_id, 'user_id', p_user_id,
                                             'kind', p_kind, 'message', p_message, 'payload', p_payload)::text);
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._notify(bigint, bigint, text, text, jsonb) IS 'Stores a notification and sends it on channel finshard_events (payload: the row as JSON); when delivery is deferred, or inside a Citus multi-node transaction block, the row waits for dispatch_notifications()';
REVOKE ALL ON FUNCTION finshard._notify(bigint, bigint, text, text, jsonb) FROM PUBLIC;
