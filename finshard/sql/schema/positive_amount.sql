-- A domain, not a table CHECK (README, Design: "Domains, not table CHECKs, on hot tables"): a
-- domain's rule is read and planned once per session, a table CHECK on every statement.
DO $$ BEGIN
    IF to_regtype('finshard.positive_amount') IS NULL THEN
        CREATE DOMAIN finshard.positive_amount AS numeric(22,4) CHECK (VALUE > '0'::numeric);
    END IF;
END $$;
COMMENT ON DOMAIN finshard.positive_amount IS 'An amount of money that must be above zero (a transfer''s amount)';
