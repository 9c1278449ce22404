CREATE OR REPLACE FUNCTION finshard.compress_partitions(p_older_than interval DEFAULT interval '3 months')
RETURNS TABLE (table_name regclass, partition_name text, compressed boolean)
LANGUAGE plpgsql
-- Maintenance is an admin duty (docs/roles.md): it runs as the tables' owner.
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_bound text;
BEGIN
    -- A standby's own answer comes below (pg_cron runs this on standbys too).
    IF current_query() IS NULL OR (current_setting('transaction_read_only') = 'on' AND NOT pg_is_in_recovery())
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('compress_partitions');
    END IF;
    PERFORM finshard._not_null(p_older_than, 'p_older_than');
    -- Zero or less would take the current and future months, which then refuse every write.
    IF p_older_than <= interval '0' THEN
        PERFORM finshard.fail('FS005', format('p_older_than %s must be a positive age', p_older_than));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_am WHERE amname = 'columnar') THEN
        PERFORM finshard.fail('FS005',
            CASE WHEN EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'citus_columnar')
                 THEN 'columnar storage is not installed in this database: run CREATE EXTENSION citus_columnar'
                 ELSE 'columnar storage is not available here: compression needs Citus (citus_columnar)' END);
    END IF;
    IF pg_is_in_recovery() OR NOT pg_try_advisory_xact_lock(hashtext('finshard.partition_maintenance')) THEN
        RAISE NOTICE 'finshard.compress_partitions: standby or another maintenance run; nothing done';
        RETURN;
    END IF;
    -- Only append-only books (ledger, audit log, quote history, bars) whose month ended
    -- p_older_than ago: columnar storage takes no UPDATE or DELETE, and these rows never change.
    -- Trades stay heap: columnar refuses foreign keys, and a trade references its instrument.
    FOR table_name, partition_name, v_bound IN
        SELECT l.table_name, l.partition_name, pg_get_expr(c.relpartbound, c.oid)
          FROM finshard.list_partitions() l
          JOIN pg_class c ON c.relname = l.partition_name AND c.relnamespace = 'finshard'::regnamespace
          JOIN pg_am am ON am.oid = c.relam
         WHERE l.table_name::text IN ('finshard.transactions', 'finshard.audit_log', 'finshard.quotes', 'finshard.market_data')
           AND l.range_to <= now() - p_older_than AND am.amname = 'heap'
         ORDER BY l.range_to, l.table_name::text
    LOOP
        -- Converted detached: a partition's indexes that belong to the parent's indexes cannot be
        -- dropped while it is attached, and the conversion rebuilds the table. Attaching it again
        -- rebuilds the parent's indexes on it. It all happens in this transaction, under the
        -- parent's lock, so no reader ever sees the month missing; writers wait for the copy.
        EXECUTE format('ALTER TABLE %s DETACH PARTITION finshard.%I', table_name, partition_name);
        PERFORM alter_table_set_access_method(format('finshard.%I', partition_name)::regclass, 'columnar');
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION finshard.%I %s', table_name, partition_name, v_bound);
        compressed := true;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION finshard.compress_partitions(interval) IS 'Converts append-only partitions (ledger, audit log, quotes, bars) whose month ended p_older_than ago to columnar storage (Citus with citus_columnar), keeping their indexes; returns what it converted. Holds each parent''s lock while a partition is copied: run it in a quiet window. Raises FS001, FS005 (p_older_than must be positive)';
REVOKE ALL ON FUNCTION finshard.compress_partitions(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.compress_partitions(interval) TO finshard_admin;
