CREATE OR REPLACE FUNCTION finshard._notify(p_account_id bigint, p_user_id bigint, p_kind text,
                                            p_message text, p_payload jsonb DEFAULT '{}', p_send boolean DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_id     bigint;
    v_send   boolean;
BEGIN
    v_send := coalesce(p_send, finshard._notify_now());
    INSERT INTO finshard.notifications (account_id, user_id, kind, message, payload, created_at)
    VALUES (p_account_id, p_user_id, p_kind, p_message, p_payload, now())
    RETURNING notification_id INTO v_id;
    IF v_send THEN
        -- Delivered at commit to LISTEN finshard_events sessions on the node that ran the call.
        PERFORM finshard._signal(v_id, p_account_id, p_user_id, p_kind, p_message, p_payload);
    ELSE
        INSERT INTO finshard.notification_outbox (account_id, notification_id, created_at)
        VALUES (p_account_id, v_id, now());
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._notify(bigint, bigint, text, text, jsonb, boolean) IS 'Stores a notification and sends it on channel finshard_events (payload: the row as JSON); when delivery is deferred, or inside a Citus multi-node transaction block, it is queued in notification_outbox for dispatch_notifications()';
REVOKE ALL ON FUNCTION finshard._notify(bigint, bigint, text, text, jsonb, boolean) FROM PUBLIC;
