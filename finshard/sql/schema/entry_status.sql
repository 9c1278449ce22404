-- A domain, not a table CHECK (README, Design: "Domains, not table CHECKs, on hot tables").
DO $$ BEGIN
    IF to_regtype('finshard.entry_status') IS NULL THEN
        CREATE DOMAIN finshard.entry_status AS text CHECK (VALUE IN ('pending', 'processing', 'success', 'failed'));
    END IF;
END $$;
COMMENT ON DOMAIN finshard.entry_status IS 'Status of a ledger entry (the seeds'' statuses)';
