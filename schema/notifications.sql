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
COMMENT ON TABLE finshard.notifications IS 'User notifications (seeds 002, 004); each is also sent with pg_notify on channel finshard_events: at once, or later by dispatch_notifications() while it has a row in notification_outbox';

-- Seed 002: a user's notifications.
CREATE INDEX IF NOT EXISTS notifications_user_idx ON finshard.notifications (user_id, created_at DESC);
