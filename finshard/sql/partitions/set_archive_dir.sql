CREATE OR REPLACE FUNCTION finshard.set_archive_dir(p_dir text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('set_archive_dir');
    END IF;
    -- Where the server's OS user writes files is a superuser's choice: granted to no role.
    PERFORM finshard._archive_path(p_dir);
    -- Refused now rather than at the first monthly retire: the server must be able to write there.
    BEGIN
        -- The program reads its input first: COPY fails with a broken pipe if it exits before.
        EXECUTE format('COPY (SELECT 1) TO PROGRAM %L',
                       format('cat > /dev/null && test -d %s && test -w %s', quote_literal(p_dir), quote_literal(p_dir)));
    EXCEPTION WHEN external_routine_exception THEN
        PERFORM finshard.fail('FS074', format('archive directory %s does not exist or the server (OS user %s) cannot write there',
                                              p_dir, (SELECT rolname FROM pg_roles WHERE oid = 10)), SQLERRM);
    END;
    -- UPDATE, not an upsert: Citus refuses now() in ON CONFLICT DO UPDATE on a reference table.
    UPDATE finshard.settings SET value = p_dir, updated_at = now() WHERE key = 'archive_dir';
    IF NOT FOUND THEN
        INSERT INTO finshard.settings (key, value) VALUES ('archive_dir', p_dir);
    END IF;
    RETURN p_dir;
END
$$;
COMMENT ON FUNCTION finshard.set_archive_dir(text) IS 'Sets the directory (on the database server) where retired partitions are archived (finshard.settings archive_dir); superuser only. Raises FS001, FS073 (unsafe path), FS074 (missing or not writable by the server)';
REVOKE ALL ON FUNCTION finshard.set_archive_dir(text) FROM PUBLIC;
