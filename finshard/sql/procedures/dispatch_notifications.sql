CREATE OR REPLACE FUNCTION finshard.dispatch_notifications(p_limit integer DEFAULT 10000)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_row     record;
    v_count   integer := 0;
    -- Whether every month the batch reached has its partition of finshard.notifications: decided
    -- before a row of the month is written, so a refused write is an error of its own, never
    -- read as a missing month.
    v_covered boolean;
    v_from    timestamptz;  -- on Citus, the month the rows being written are in
    v_to      timestamptz;
    -- Set once a month of the batch may have no partition: then only the rows inside the months
    -- that have one (v_months) are taken.
    v_checked boolean := false;
    v_months  tstzmultirange;
    v_left    bigint;
BEGIN
    -- A standby's own answer comes below (pg_cron runs this on standbys too).
    IF current_query() IS NULL OR (current_setting('transaction_read_only') = 'on' AND NOT pg_is_in_recovery())
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('dispatch_notifications');
    END IF;
    PERFORM finshard._check_limit(p_limit, 1000000);
    IF pg_is_in_recovery() THEN
        RETURN 0;
    END IF;
    -- One dispatcher at a time, so a notification is stored and sent once.
    IF NOT pg_try_advisory_xact_lock(hashtext('finshard.dispatch_notifications')) THEN
        RETURN 0;
    END IF;
    -- Queued notifications, oldest first: stored in finshard.notifications (with the id and time
    -- they were created with), sent, and taken off the queue in this transaction. The NOTIFYs are
    -- delivered when it commits, together (one pass of the notify lock for the whole batch); if it
    -- fails, the queue is as it was, and the next pass takes them again.
    LOOP
        v_covered := true;
        IF current_setting('citus.version', true) IS NOT NULL THEN
            -- On Citus row by row: each statement goes to one shard, where one statement for the
            -- batch would ship the batch to every shard on every pass (measured with the batch
            -- UPDATE that once marked rows sent: 14% fewer cross-node transfers/s).
            FOR v_row IN
                SELECT q.account_id, q.notification_id, q.user_id, q.kind, q.message, q.payload, q.created_at
                  FROM finshard.notification_outbox q
                 WHERE NOT v_checked OR q.created_at <@ v_months
                 ORDER BY q.created_at, q.notification_id
                 LIMIT p_limit - v_count
            LOOP
                -- Oldest first, so the month changes seldom: each is checked at its first row.
                IF NOT v_checked AND NOT coalesce(v_row.created_at >= v_from AND v_row.created_at < v_to, false) THEN
                    v_covered := finshard._partitions_cover('finshard.notifications', v_row.created_at, v_row.created_at);
                    EXIT WHEN NOT v_covered;
                    v_from := date_trunc('month', v_row.created_at, 'UTC');
                    v_to := (date_trunc('month', v_row.created_at AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
                END IF;
                DELETE FROM finshard.notification_outbox q
                 WHERE q.account_id = v_row.account_id AND q.notification_id = v_row.notification_id;
                -- On Citus the transaction that queued it stored it already (_notify, _move).
                INSERT INTO finshard.notifications (account_id, notification_id, user_id, kind, message, payload, created_at)
                VALUES (v_row.account_id, v_row.notification_id, v_row.user_id, v_row.kind, v_row.message,
                        v_row.payload, v_row.created_at)
                ON CONFLICT DO NOTHING;
                PERFORM finshard._signal(v_row.notification_id, v_row.account_id, v_row.user_id, v_row.kind::text);
                v_count := v_count + 1;
            END LOOP;
        ELSE
            -- On one node one statement for the batch: the dispatcher keeps up with the writers at
            -- a fraction of the cost the rows had in their transactions. It writes nothing unless
            -- the batch's months have partitions (span.covered: evaluated once, before the DELETE).
            WITH queued AS (
                SELECT o.ctid, o.created_at FROM finshard.notification_outbox o
                 WHERE NOT v_checked OR o.created_at <@ v_months
                 ORDER BY o.created_at, o.notification_id
                 LIMIT p_limit
            ), span AS (
                SELECT array_agg(q.ctid) AS ctids,
                       v_checked OR count(*) = 0
                       OR finshard._partitions_cover('finshard.notifications', min(q.created_at), max(q.created_at)) AS covered
                  FROM queued q
            ), batch AS (
                DELETE FROM finshard.notification_outbox q
                 WHERE q.ctid = ANY ((SELECT s.ctids FROM span s)::tid[]) AND (SELECT s.covered FROM span s)
                RETURNING q.account_id, q.notification_id, q.user_id, q.kind, q.message, q.payload, q.created_at
            ), stored AS (
                INSERT INTO finshard.notifications (account_id, notification_id, user_id, kind, message, payload, created_at)
                SELECT b.account_id, b.notification_id, b.user_id, b.kind, b.message, b.payload, b.created_at
                  FROM batch b
            )
            SELECT count(finshard._signal(s.notification_id, s.account_id, s.user_id, s.kind::text)),
                   (SELECT c.covered FROM span c)
              INTO v_count, v_covered
              FROM (SELECT b.* FROM batch b ORDER BY b.created_at, b.notification_id) s;
        END IF;
        EXIT WHEN v_covered;
        -- A month of the batch may have no partition: read the exact ranges, once per call, and
        -- take only the rows inside them (what was written before that month stays written).
        v_checked := true;
        SELECT range_agg(tstzrange(l.range_from, l.range_to)) INTO v_months
          FROM finshard.list_partitions() l
         WHERE l.table_name = 'finshard.notifications'::regclass;
        -- Queued before the oldest partition there is: that month was retired; not stored, not sent.
        DELETE FROM finshard.notification_outbox q WHERE q.created_at < lower(v_months);
    END LOOP;
    IF v_checked THEN
        SELECT count(*) INTO v_left FROM finshard.notification_outbox q WHERE NOT coalesce(q.created_at <@ v_months, false);
        IF v_left > 0 THEN
            RAISE WARNING 'finshard.dispatch_notifications: % queued notification(s) wait for a partition of finshard.notifications for their month', v_left
                  USING HINT = 'Create it: finshard partitions create (finshard.create_partitions()).';
        END IF;
    END IF;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION finshard.dispatch_notifications(integer) IS 'Stores (in finshard.notifications, with the id and time they were created with, unless stored already: on Citus the queuing transaction stores them) and sends (pg_notify on finshard_events, on this node) up to p_limit queued notifications (notification_outbox), oldest first, and takes them off the queue; returns how many. finshard notifications dispatch --follow runs it in a loop. A queued notification older than every partition (its month retired) is dropped; one whose month has no partition stays queued, with a WARNING';
REVOKE ALL ON FUNCTION finshard.dispatch_notifications(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.dispatch_notifications(integer) TO finshard_admin;
