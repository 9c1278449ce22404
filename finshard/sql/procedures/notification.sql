CREATE OR REPLACE FUNCTION finshard.notification(p_account_id bigint, p_notification_id bigint, p_session text DEFAULT NULL,
                                                 OUT notification_id bigint, OUT account_id bigint, OUT user_id bigint,
                                                 OUT kind text, OUT message text, OUT payload jsonb,
                                                 OUT created_at timestamptz)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_query() IS NULL THEN PERFORM finshard._refuse_call('notification'); END IF;
    -- Who may do this, for whom: docs/roles.md.
    PERFORM finshard._authorize(p_session, p_account_id, 'read');
    PERFORM finshard._not_null(p_account_id, 'p_account_id');
    PERFORM finshard._not_null(p_notification_id, 'p_notification_id');
    SELECT n.notification_id, n.account_id, n.user_id, n.kind::text, n.message, n.payload, n.created_at
      INTO notification_id, account_id, user_id, kind, message, payload, created_at
      FROM finshard.notifications n
     WHERE n.account_id = p_account_id AND n.notification_id = p_notification_id;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS064', format('account %s has no notification %s', p_account_id, p_notification_id));
    END IF;
END
$$;
COMMENT ON FUNCTION finshard.notification(bigint, bigint, text) IS 'A stored notification, read back from the ids a finshard_events event carries (an event whose ids find none, or another kind or user, is forged). Raises FS001, FS010, FS064, FS080-FS085';
REVOKE ALL ON FUNCTION finshard.notification(bigint, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.notification(bigint, bigint, text) TO finshard_app, finshard_admin, finshard_readonly;
