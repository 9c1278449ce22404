-- A domain, not a table CHECK (README, Design: "Domains, not table CHECKs, on hot tables").
DO $$ BEGIN
    IF to_regtype('finshard.transfer_status') IS NULL THEN
        CREATE DOMAIN finshard.transfer_status AS text CHECK (VALUE IN ('pending', 'processing', 'success', 'failed', 'voided', 'expired'));
    END IF;
END $$;
COMMENT ON DOMAIN finshard.transfer_status IS 'Status of a transfer record: success for immediate transfers; pending, then success, voided or expired for two-phase ones';
