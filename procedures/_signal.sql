CREATE OR REPLACE FUNCTION finshard._signal(p_notification_id bigint, p_account_id bigint, p_user_id bigint,
                                            p_kind text, p_message text, p_payload jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    -- The one shape of a finshard_events payload: the notification row as JSON. (PL/pgSQL: an SQL
    -- function that cannot be inlined is parsed again on every call.)
    PERFORM pg_notify('finshard_events',
                      jsonb_build_object('notification_id', p_notification_id, 'account_id', p_account_id,
                                         'user_id', p_user_id, 'kind', p_kind, 'message', p_message,
                                         'payload', p_payload)::text);
END
$$;
COMMENT ON FUNCTION finshard._signal(bigint, bigint, bigint, text, text, jsonb) IS 'Sends a stored notification on channel finshard_events (delivered at commit, on this node)';
REVOKE ALL ON FUNCTION finshard._signal(bigint, bigint, bigint, text, text, jsonb) FROM PUBLIC;
