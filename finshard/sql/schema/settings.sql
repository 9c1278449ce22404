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

-- Sessions (finshard.login): how long a token lives.
INSERT INTO finshard.settings (key, value) VALUES ('session_ttl', '30 minutes') ON CONFLICT (key) DO NOTHING;
-- set_fx_rate refuses, unless confirmed, a rate further than this fraction from the rate in force.
INSERT INTO finshard.settings (key, value) VALUES ('fx_rate_band', '0.10') ON CONFLICT (key) DO NOTHING;
-- A house fx account may go this far below zero (in its currency) unless an admin set its own limit.
INSERT INTO finshard.settings (key, value) VALUES ('house_limit_default', '1000000') ON CONFLICT (key) DO NOTHING;
-- Maintenance (finshard.maintenance_jobs): the partitions job keeps this many months ahead; DAY
-- orders expire daily at this UTC time (HH:MM); retired partitions are archived here first
-- (empty: not set; only a superuser sets it, with finshard.set_archive_dir).
INSERT INTO finshard.settings (key, value) VALUES ('partition_months_ahead', '3') ON CONFLICT (key) DO NOTHING;
INSERT INTO finshard.settings (key, value) VALUES ('day_orders_cutoff', '00:00') ON CONFLICT (key) DO NOTHING;
INSERT INTO finshard.settings (key, value) VALUES ('archive_dir', '') ON CONFLICT (key) DO NOTHING;
-- Login lockout (finshard.authenticate): this many attempts without a success within the window
-- lock the login (users and unknown logins alike) for login_lockout.
INSERT INTO finshard.settings (key, value) VALUES ('login_max_failures', '5') ON CONFLICT (key) DO NOTHING;
INSERT INTO finshard.settings (key, value) VALUES ('login_failure_window', '15 minutes') ON CONFLICT (key) DO NOTHING;
INSERT INTO finshard.settings (key, value) VALUES ('login_lockout', '15 minutes') ON CONFLICT (key) DO NOTHING;
-- The issuer an authenticator app shows beside a TOTP entry (finshard.enroll_mfa's otpauth URI).
INSERT INTO finshard.settings (key, value) VALUES ('mfa_issuer', 'finshard') ON CONFLICT (key) DO NOTHING;
