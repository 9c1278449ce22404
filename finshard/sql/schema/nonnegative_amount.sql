-- A domain, not a table CHECK (README, Design: "Domains, not table CHECKs, on hot tables"): a
-- domain's rule is read and planned once per session, a table CHECK on every statement.
DO $$ BEGIN
    IF to_regtype('finshard.nonnegative_amount') IS NULL THEN
        CREATE DOMAIN finshard.nonnegative_amount AS numeric(22,4) CHECK (VALUE >= '0'::numeric);
    END IF;
END $$;
COMMENT ON DOMAIN finshard.nonnegative_amount IS 'An amount of money that may be zero but not negative (money held: accounts.reserved)';
