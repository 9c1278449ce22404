CREATE OR REPLACE FUNCTION finshard._signal(p_notification_id bigint, p_account_id bigint, p_user_id bigint, p_kind text)
RETURNS void
LANGUAGE sql VOLATILE
AS $$
    -- Ids only: any role that may connect can LISTEN on any channel (and NOTIFY on it), so the
    -- payload carries no amount, balance or name. A consumer reads the notification back with
    -- finshard.notification(account_id, notification_id), under its own grants; an event naming a
    -- notification that does not exist, or another kind or user, is a forgery. One expression,
    -- VOLATILE as pg_notify is: PostgreSQL inlines it into the statement that calls it. Written as
    -- text, byte for byte what jsonb_build_object(...)::text prints (keys by length, then bytes);
    -- the kind is a finshard.notification_kind (no quoting needed).
    SELECT pg_notify('finshard_events',
                     '{"kind": "' || p_kind || '", "user_id": ' || p_user_id || ', "account_id": ' || p_account_id
                     || ', "notification_id": ' || p_notification_id || '}')
$$;
COMMENT ON FUNCTION finshard._signal(bigint, bigint, bigint, text) IS 'Sends a stored notification''s ids on channel finshard_events (delivered at commit, on this node); the consumer reads it back with finshard.notification';
REVOKE ALL ON FUNCTION finshard._signal(bigint, bigint, bigint, text) FROM PUBLIC;
