CREATE TABLE IF NOT EXISTS finshard.notification_outbox (
    account_id      bigint      NOT NULL,
    notification_id bigint      NOT NULL,
    user_id         bigint      NOT NULL,
    kind            finshard.notification_kind NOT NULL,
    message         text        NOT NULL,
    payload         jsonb       NOT NULL,
    created_at      timestamptz NOT NULL
);
COMMENT ON TABLE finshard.notification_outbox IS 'Notifications created but not yet stored in finshard.notifications nor sent with pg_notify (delivery deferred, auto with a registered dispatcher, or a worker transaction Citus will PREPARE): finshard.dispatch_notifications() stores and sends them, with their id and time, and deletes these rows in the same transaction';

-- The queue holds each notification whole, so that a transaction that queues writes one small row
-- and no index entry per notification; the dispatcher writes the notification rows in batches.
-- No index: the dispatcher reads the whole (small) queue, and deletes what it stored and sent.
-- Without a key, the rows identify themselves whole: Citus moves shards online by logical
-- replication, which needs a replica identity on every table of the colocation group.
-- (In a DO block, and only when missing: Citus ships an ALTER of a distributed table to its
-- shards as the statement's text, and a file run as one string is many statements.)
DO $$
BEGIN
    IF (SELECT c.relreplident FROM pg_class c WHERE c.oid = 'finshard.notification_outbox'::regclass) <> 'f' THEN
        ALTER TABLE finshard.notification_outbox REPLICA IDENTITY FULL;
    END IF;
END
$$;
