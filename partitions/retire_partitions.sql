CREATE OR REPLACE FUNCTION finshard.retire_partitions(p_dry_run boolean DEFAULT true)
RETURNS TABLE (table_name regclass, partition_name text, range_to timestamptz, retired boolean)
LANGUAGE plpgsql
-- Maintenance is an admin duty (docs/roles.md): it runs as the tables' owner.
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM finshard._not_null(p_dry_run, 'p_dry_run');
    IF pg_is_in_recovery() THEN
        RAISE NOTICE 'finshard.retire_partitions: standby, nothing done';
        RETURN;
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('finshard.partition_maintenance')) THEN
        RAISE NOTICE 'finshard.retire_partitions: another maintenance run holds the lock, nothing done';
        RETURN;
    END IF;
    -- Only partitions whose whole range is past retention; detached then dropped, never a
    -- partition that could still receive rows.
    FOR table_name, partition_name, range_to IN
        SELECT l.table_name, l.partition_name, l.range_to FROM finshard.list_partitions() l
         WHERE l.retire_after < now()
    LOOP
        retired := NOT p_dry_run;
        IF retired THEN
            EXECUTE format('ALTER TABLE %s DETACH PARTITION finshard.%I', table_name, partition_name);
            EXECUTE format('DROP TABLE finshard.%I', partition_name);
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION finshard.retire_partitions(boolean) IS 'Drops partitions past their table''s retention (finshard.partitioned_tables); p_dry_run (default) only lists them. Raises FS001';
REVOKE ALL ON FUNCTION finshard.retire_partitions(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.retire_partitions(boolean) TO finshard_admin;
