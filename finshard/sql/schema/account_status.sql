-- A domain, not a table CHECK (README, Design: "Domains, not table CHECKs, on hot tables").
DO $$ BEGIN
    IF to_regtype('finshard.account_status') IS NULL THEN
        CREATE DOMAIN finshard.account_status AS text CHECK (VALUE IN ('active', 'frozen', 'closed'));
    END IF;
END $$;
COMMENT ON DOMAIN finshard.account_status IS 'Account lifecycle: active, frozen (no movements), closed (only at zero balance)';
