CREATE TABLE IF NOT EXISTS finshard.notification_outbox (
    account_id      bigint      NOT NULL,
    notification_id bigint      NOT NULL,
    created_at      timestamptz NOT NULL
);
COMMENT ON TABLE finshard.notification_outbox IS 'Notifications stored but not yet sent with pg_notify (deferred delivery, or a worker transaction Citus will PREPARE): finshard.dispatch_notifications() sends them and deletes these rows in the same transaction. A notification is sent once it has no row here';

-- No index: the dispatcher reads the whole (small) queue, and deletes what it sent. Marking the
-- notification row itself as sent would write every notification twice, with its indexes.
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
