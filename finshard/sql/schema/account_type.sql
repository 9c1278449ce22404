-- A domain, not a table CHECK (README, Design: "Domains, not table CHECKs, on hot tables").
DO $$ BEGIN
    IF to_regtype('finshard.account_type') IS NULL THEN
        CREATE DOMAIN finshard.account_type AS text CHECK (VALUE IN ('cash', 'margin', 'savings', 'house', 'system'));
    END IF;
END $$;
COMMENT ON DOMAIN finshard.account_type IS 'Kind of account: customer (cash, margin, savings) or the house''s own (house fx accounts, system)';
