CREATE TABLE IF NOT EXISTS finshard.notifications (
    account_id      bigint      NOT NULL,
    notification_id bigserial   NOT NULL,
    user_id         bigint      NOT NULL,
    kind            finshard.notification_kind NOT NULL,
    message         text        NOT NULL,
    payload         jsonb       NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    read_at         timestamptz,
    sent_at         timestamptz,
    PRIMARY KEY (account_id, notification_id, created_at)
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE finshard.notifications IS 'User notifications (seeds 002, 004); each is also sent with pg_notify on channel finshard_events, on the node that holds the account';

COMMENT ON COLUMN finshard.notifications.sent_at IS 'when pg_notify sent it; NULL until finshard.dispatch_notifications() sends it (deferred delivery, or a worker transaction Citus will PREPARE)';

-- What the dispatcher has left to send: small, because sent rows leave the partial index.
CREATE INDEX IF NOT EXISTS notifications_unsent_idx ON finshard.notifications (created_at) WHERE sent_at IS NULL;

-- Seed 002: a user's notifications.
CREATE INDEX IF NOT EXISTS notifications_user_idx ON finshard.notifications (user_id, created_at DESC);
