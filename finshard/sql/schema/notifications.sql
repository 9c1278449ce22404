CREATE TABLE IF NOT EXISTS finshard.notifications (
    account_id      bigint      NOT NULL,
    notification_id bigserial   NOT NULL,
    user_id         bigint      NOT NULL,
    kind            finshard.notification_kind NOT NULL,
    message         text        NOT NULL,
    payload         jsonb       NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    read_at         timestamptz,
    PRIMARY KEY (account_id, notification_id, created_at)
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE finshard.notifications IS 'User notifications (seeds 002, 004), each stored here when it is sent with pg_notify on channel finshard_events: at once by the transaction that creates it, or later by dispatch_notifications(), which takes it from notification_outbox (where it waits meanwhile, whole)';

-- Seed 002: a user's notifications.
CREATE INDEX IF NOT EXISTS notifications_user_idx ON finshard.notifications (user_id, created_at DESC);
