CREATE OR REPLACE FUNCTION finshard.compress_partitions(p_older_than interval DEFAULT interval '3 months')
RETURNS TABLE (table_name regclass, partition_name text, compressed boolean)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM finshard._not_null(p_older_than, 'p_older_than');
    IF NOT EXISTS (SELECT 1 FROM pg_am WHERE amname = 'columnar') THEN
        PERFORM finshard.fail('FS005', 'columnar storage is not available here: compression needs Citus (citus_columnar)');
    END IF;
    IF pg_is_in_recovery() OR NOT pg_try_advisory_xact_lock(hashtext('finshard.partition_maintenance')) THEN
        RAISE NOTICE 'finshard.compress_partitions: standby or another maintenance run; nothing done';
        RETURN;
    END IF;
    -- Only append-only books (ledger, trades, audit log, quote history, bars) whose month ended
    -- p_older_than ago: columnar storage takes no UPDATE or DELETE, and these rows never change.
    FOR table_name, partition_name, compressed IN
        SELECT l.table_name, l.partition_name, true FROM finshard.list_partitions() l
          JOIN pg_class c ON c.relname = l.partition_name AND c.relnamespace = 'finshard'::regnamespace
          JOIN pg_am am ON am.oid = c.relam
         WHERE l.table_name::text IN ('finshard.transactions', 'finshard.trades', 'finshard.audit_log', 'finshard.quotes', 'finshard.market_data')
           AND l.range_to <= now() - p_older_than AND am.amname = 'heap'
         ORDER BY l.range_to
    LOOP
        PERFORM alter_table_set_access_method(format('finshard.%I', partition_name)::regclass, 'columnar');
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION finshard.compress_partitions(interval) IS 'Converts append-only partitions whose month ended p_older_than ago to columnar storage (Citus); returns what it converted';
REVOKE ALL ON FUNCTION finshard.compress_partitions(interval) FROM PUBLIC;
