CREATE OR REPLACE FUNCTION finshard.create_partitions(p_months_back integer DEFAULT 12,
                                                      p_months_ahead integer DEFAULT 3,
                                                      p_table regclass DEFAULT NULL)
RETURNS TABLE (table_name regclass, partition_name text, range_from timestamptz, range_to timestamptz, created boolean)
LANGUAGE plpgsql
-- Maintenance is an admin duty (docs/roles.md): it runs as the tables' owner.
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
AS $$
DECLARE
    v_month  timestamptz;
    v_exists boolean;
BEGIN
    -- A standby's own answer comes below (pg_cron runs this on standbys too).
    IF current_query() IS NULL OR (current_setting('transaction_read_only') = 'on' AND NOT pg_is_in_recovery())
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('create_partitions');
    END IF;
    PERFORM finshard._not_null(p_months_back, 'p_months_back');
    PERFORM finshard._not_null(p_months_ahead, 'p_months_ahead');
    -- Bounded: 2^31 months is past the last timestamp, and ten years of months is already 120 tables each.
    IF p_months_back NOT BETWEEN 0 AND 120 OR p_months_ahead NOT BETWEEN 0 AND 120 THEN
        PERFORM finshard.fail('FS070', format('months back (%s) and ahead (%s) must be between 0 and 120', p_months_back, p_months_ahead));
    END IF;
    IF p_table IS NOT NULL AND NOT EXISTS (SELECT 1 FROM finshard.partitioned_tables() t WHERE t.table_name = p_table) THEN
        PERFORM finshard.fail('FS005', format('%s is not a time-partitioned finshard table (finshard.partitioned_tables)', p_table));
    END IF;
    -- Maintenance does nothing on a standby, and never runs twice at once.
    IF pg_is_in_recovery() THEN
        RAISE NOTICE 'finshard.create_partitions: standby, nothing done';
        RETURN;
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('finshard.partition_maintenance')) THEN
        RAISE NOTICE 'finshard.create_partitions: another maintenance run holds the lock, nothing done';
        RETURN;
    END IF;
    FOR table_name IN SELECT t.table_name FROM finshard.partitioned_tables() t
                       WHERE p_table IS NULL OR t.table_name = p_table
    LOOP
        FOR v_month IN SELECT generate_series(date_trunc('month', now()) - make_interval(months => p_months_back),
                                              date_trunc('month', now()) + make_interval(months => p_months_ahead),
                                              interval '1 month')
        LOOP
            partition_name := finshard.partition_name(table_name, v_month);
            range_from := v_month;
            range_to := v_month + interval '1 month';
            SELECT EXISTS (SELECT 1 FROM pg_class c WHERE c.relname = partition_name
                             AND c.relnamespace = 'finshard'::regnamespace) INTO v_exists;
            created := NOT v_exists;
            IF created THEN
                EXECUTE format('CREATE TABLE finshard.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                               partition_name, table_name, range_from, range_to);
            END IF;
            RETURN NEXT;
        END LOOP;
        -- A DEFAULT partition whose CHECK raises FS071: a row of a month with no partition is
        -- refused with finshard's code and this remedy instead of PostgreSQL's 23514, and a row of
        -- an existing month never reaches it (tuple routing finds its month first).
        partition_name := (SELECT c.relname || '_default' FROM pg_class c WHERE c.oid = table_name);
        range_from := NULL;
        range_to := NULL;
        created := NOT EXISTS (SELECT 1 FROM pg_partitioned_table p WHERE p.partrelid = table_name AND p.partdefid <> 0);
        IF created THEN
            EXECUTE format('CREATE TABLE finshard.%I PARTITION OF %s (CONSTRAINT %I CHECK (finshard.partition_missing(%L, %I))) DEFAULT',
                           partition_name, table_name, partition_name || '_refuses', table_name::text,
                           (SELECT t.time_column FROM finshard.partitioned_tables() t WHERE t.table_name = create_partitions.table_name));
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION finshard.create_partitions(integer, integer, regclass) IS 'Creates the missing monthly partitions from p_months_back months ago to p_months_ahead months ahead (all partitioned tables, or p_table), and each table''s DEFAULT partition that refuses rows of a missing month with FS071 (returned with NULL ranges); skips on a standby or when another run holds the lock. Raises FS001, FS005, FS070 (at most 120 months either way)';
REVOKE ALL ON FUNCTION finshard.create_partitions(integer, integer, regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.create_partitions(integer, integer, regclass) TO finshard_admin;
