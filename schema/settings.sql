CREATE TABLE IF NOT EXISTS finshard.settings (
    key        text        PRIMARY KEY,
    value      text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE finshard.settings IS 'Cluster-wide finshard settings (reference table on Citus: every node reads them locally)';

-- notify_delivery: immediate = pg_notify in the transaction that creates the notification (every
-- notifying commit then takes PostgreSQL's database-wide notify lock); deferred = notifications
-- are queued in notification_outbox and finshard.dispatch_notifications() stores and sends them in
-- batches;
-- auto = deferred while a dispatcher is registered on the node (register_dispatcher), else immediate.
INSERT INTO finshard.settings (key, value) VALUES ('notify_delivery', 'auto') ON CONFLICT (key) DO NOTHING;
