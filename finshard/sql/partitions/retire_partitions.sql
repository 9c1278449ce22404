-- The result gained the archive's file, rows and checksum: a changed result type needs the old
-- function dropped first (CREATE OR REPLACE cannot change it).
DROP FUNCTION IF EXISTS finshard.retire_partitions(boolean);
CREATE OR REPLACE FUNCTION finshard.retire_partitions(p_dry_run boolean DEFAULT true)
RETURNS TABLE (table_name regclass, partition_name text, range_to timestamptz, retired boolean,
               archive_file text, row_count bigint, sha256 text)
LANGUAGE plpgsql
-- Maintenance is an admin duty (docs/roles.md): it runs as the tables' owner, a superuser, who
-- alone may write server files (the archive directory is a setting only a superuser changes).
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- The archive's text (and its digest) must not depend on the caller's session settings.
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
SET IntervalStyle = 'postgres'
SET extra_float_digits = 1
SET bytea_output = 'hex'
AS $$
DECLARE
    v_dir   text;
    v_from  timestamptz;
    v_files record;
    v_straddles boolean;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('retire_partitions');
    END IF;
    PERFORM finshard._not_null(p_dry_run, 'p_dry_run');
    IF pg_is_in_recovery() THEN
        RAISE NOTICE 'finshard.retire_partitions: standby, nothing done';
        RETURN;
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('finshard.partition_maintenance')) THEN
        RAISE NOTICE 'finshard.retire_partitions: another maintenance run holds the lock, nothing done';
        RETURN;
    END IF;
    v_dir := finshard._archive_dir(false);
    -- Only partitions whose whole range is past retention; each archived and verified, then
    -- detached and dropped, never a partition that could still receive rows.
    FOR table_name, partition_name, v_from, range_to IN
        SELECT l.table_name, l.partition_name, l.range_from, l.range_to FROM finshard.list_partitions() l
         WHERE l.retire_after < now()
         ORDER BY l.range_to, l.table_name::text
    LOOP
        retired := NOT p_dry_run;
        archive_file := v_dir || '/' || partition_name || '.csv.gz';
        row_count := NULL;
        sha256 := NULL;
        -- An audit entry numbered after one of a later month (its time was read before it waited
        -- for its chain's lock across the month's end) would leave the kept chain a gap that no
        -- carried link closes: such a month stays, and says why.
        IF retired AND table_name = 'finshard.audit_log'::regclass THEN
            -- The chain is carried from its oldest end: after a month that stays, none goes.
            v_straddles := EXISTS (SELECT 1 FROM finshard.list_partitions() l
                                    WHERE l.table_name = 'finshard.audit_log'::regclass AND l.range_to <= v_from);
            IF NOT v_straddles THEN
                EXECUTE format('SELECT EXISTS (SELECT 1 FROM (SELECT r.account_id, max(r.audit_seq) AS last FROM finshard.%I r
                                                            GROUP BY r.account_id) r
                                            WHERE EXISTS (SELECT 1 FROM finshard.audit_log k
                                                           WHERE k.account_id = r.account_id AND k.audit_seq < r.last
                                                             AND k.created_at >= %L::timestamptz))',
                           partition_name, range_to) INTO v_straddles;
            END IF;
            IF v_straddles THEN
                RAISE WARNING 'finshard.retire_partitions: % kept: an audit chain runs out of time order across its end (an entry of a later month numbered before one of it), or an older audit month is kept', partition_name;
                retired := false;
                archive_file := NULL;
            END IF;
        END IF;
        IF retired THEN
            SELECT * INTO v_files FROM finshard._archive_partition(table_name, partition_name, v_from, range_to, finshard._archive_dir(true));
            archive_file := v_files.file;
            row_count := v_files.row_count;
            sha256 := v_files.sha256;
            -- The books start again where the month leaves them: ledger_verify, audit_verify and
            -- account_statement read that from finshard.carried_forward.
            PERFORM finshard._carry_forward(table_name, partition_name, range_to);
            EXECUTE format('ALTER TABLE %s DETACH PARTITION finshard.%I', table_name, partition_name);
            EXECUTE format('DROP TABLE finshard.%I', partition_name);
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION finshard.retire_partitions(boolean) IS 'Retires partitions past their table''s retention (finshard.partitioned_tables): each is written to <archive_dir>/<partition>.csv.gz with a manifest (rows, digest, sha256), verified by reading it back, and only then dropped (a ledger or audit month leaves each account''s state at its end in finshard.carried_forward); p_dry_run (default) only lists them. Skips on a standby or when another run holds the lock. Raises FS001, FS072 (no archive directory), FS073, FS074 (cannot write there), FS075 (the archive does not match: nothing dropped)';
REVOKE ALL ON FUNCTION finshard.retire_partitions(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.retire_partitions(boolean) TO finshard_admin;
