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
    v_id := nextval('finshard.notifications_notification_id_seq');
    -- Stored now when sent now, and always on Citus: there a notification is queued mostly by a
    -- worker's part of a multi-node transaction, which runs whether or not a dispatcher does.
    IF v_send OR current_setting('citus.version', true) IS NOT NULL THEN
        INSERT INTO finshard.notifications (account_id, notification_id, user_id, kind, message, payload, created_at)
        VALUES (p_account_id, v_id, p_user_id, p_kind, p_message, p_payload, now());
    END IF;
    IF v_send THEN
        -- Delivered at commit to LISTEN finshard_events sessions on the node that ran the call.
        PERFORM finshard._signal(v_id, p_account_id, p_user_id, p_kind);
    ELSE
        -- Queued whole: dispatch_notifications() stores it (this id, this time) unless it is
        -- stored already, and sends it.
        INSERT INTO finshard.notification_outbox (account_id, notification_id, user_id, kind, message, payload, created_at)
        VALUES (p_account_id, v_id, p_user_id, p_kind, p_message, p_payload, now());
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._notify(bigint, bigint, text, text, jsonb, boolean) IS 'Stores a notification and sends its ids on channel finshard_events; when it is not sent now (deferred delivery, a registered dispatcher, or inside a Citus multi-node transaction block) it is queued whole in notification_outbox, and dispatch_notifications() sends it and stores it (on Citus it is stored at once)';
REVOKE ALL ON FUNCTION finshard._notify(bigint, bigint, text, text, jsonb, boolean) FROM PUBLIC;
