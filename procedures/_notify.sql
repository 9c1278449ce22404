CREATE OR REPLACE FUNCTION finshard._notify(p_account_id bigint, p_user_id bigint, p_kind text,
                                            p_message text, p_payload jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO finshard.notifications (account_id, user_id, kind, message, payload)
    VALUES (p_account_id, p_user_id, p_kind, p_message, p_payload)
    RETURNING notification_id INTO v_id;
    -- Delivered at commit to LISTEN finshard_events sessions on the node that ran the call.
    PERFORM pg_notify('finshard_events',
                      jsonb_build_object('notification_id', v_id, 'account_id', p_account_id, 'user_id', p_user_id,
                                         'kind', p_kind, 'message', p_message, 'payload', p_payload)::text);
END
$$;
COMMENT ON FUNCTION finshard._notify(bigint, bigint, text, text, jsonb) IS 'Stores a notification and sends it on channel finshard_events (payload: the row as JSON)';
REVOKE ALL ON FUNCTION finshard._notify(bigint, bigint, text, text, jsonb) FROM PUBLIC;
