-- A domain, not a table CHECK (README, Design: "Domains, not table CHECKs, on hot tables").
DO $$ BEGIN
    IF to_regtype('finshard.notification_kind') IS NULL THEN
        CREATE DOMAIN finshard.notification_kind AS text CHECK (VALUE IN ('credited', 'debited', 'transfer_success', 'transfer_failed', 'trade', 'price_alert', 'account'));
    END IF;
END $$;
COMMENT ON DOMAIN finshard.notification_kind IS 'Kind of notification';
