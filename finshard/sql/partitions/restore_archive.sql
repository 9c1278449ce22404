CREATE OR REPLACE FUNCTION finshard.restore_archive(p_file text)
RETURNS TABLE (table_name text, row_count bigint, sha256 text)
LANGUAGE plpgsql
-- Reads a server file (superuser's right), but only an archive in the archive directory that its
-- manifest vouches for: an admin cannot read other files through it.
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- The same session settings as retire_partitions wrote the archive with.
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
SET IntervalStyle = 'postgres'
SET extra_float_digits = 1
SET bytea_output = 'hex'
AS $$
DECLARE
    v_dir       text;
    v_file      text;
    v_partition text;
    v_manifest  jsonb;
    v_columns   text;
    v_known     boolean;
    v_loaded    record;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('restore_archive');
    END IF;
    PERFORM finshard._not_null(p_file, 'p_file');
    v_dir := finshard._archive_dir(true);
    -- A bare file name is taken in the archive directory; a path must lead into it.
    v_file := CASE WHEN strpos(p_file, '/') = 0 THEN v_dir || '/' || p_file ELSE p_file END;
    v_partition := substring(v_file FROM '/([a-z0-9_]+)\.csv\.gz$');
    IF v_partition IS NULL OR finshard._archive_path(v_file) <> v_dir || '/' || v_partition || '.csv.gz' THEN
        PERFORM finshard.fail('FS073', format('%s is not an archive file (<partition>.csv.gz) in the archive directory %s', p_file, v_dir));
    END IF;
    IF pg_stat_file(v_file, true) IS NULL THEN
        PERFORM finshard.fail('FS074', format('archive file %s does not exist', v_file));
    END IF;
    v_manifest := finshard._read_manifest(v_dir || '/' || v_partition || '.manifest.json');
    sha256 := finshard._sha256_file(v_file);
    IF v_manifest->>'partition' IS DISTINCT FROM v_partition OR v_manifest->>'sha256' IS DISTINCT FROM sha256 THEN
        PERFORM finshard.fail('FS075', format('archive file %s does not match its manifest (sha256 %s, manifest says %s)',
                                              v_file, sha256, coalesce(v_manifest->>'sha256', 'nothing')));
    END IF;
    -- One loader at a time: the check for an existing table and its creation are one step.
    PERFORM pg_advisory_xact_lock(hashtext('finshard.restore_archive'));
    table_name := format('finshard_archive.%I', v_partition);
    IF to_regclass(table_name) IS NOT NULL THEN
        PERFORM finshard.fail('FS076', format('%s is already loaded', table_name));
    END IF;
    -- Column types come from the manifest, a file: each must be a type this server knows, looked
    -- up by name, never pasted into the DDL as written.
    BEGIN
        SELECT string_agg(format('%I %s', c->>'name', format_type(to_regtype(c->>'type'), NULL)), ', ' ORDER BY n),
               count(*) > 0 AND count(*) = count(to_regtype(c->>'type'))
          INTO v_columns, v_known
          FROM jsonb_array_elements(v_manifest->'columns') WITH ORDINALITY AS e (c, n);
    EXCEPTION WHEN OTHERS THEN
        PERFORM finshard.fail('FS075', format('manifest of %s lists a column type this server cannot read', v_file), format('%s: %s', SQLSTATE, SQLERRM));
    END;
    IF NOT coalesce(v_known, false) THEN
        PERFORM finshard.fail('FS075', format('manifest of %s lists no columns, or a type this server does not have', v_file));
    END IF;
    CREATE SCHEMA IF NOT EXISTS finshard_archive;
    GRANT USAGE ON SCHEMA finshard_archive TO finshard_admin, finshard_readonly;
    EXECUTE format('CREATE TABLE %s (%s)', table_name, v_columns);
    BEGIN
        EXECUTE format('COPY %s FROM PROGRAM %L WITH (FORMAT csv, HEADER MATCH)', table_name, format('gzip -dc %s', quote_literal(v_file)));
    EXCEPTION WHEN OTHERS THEN
        PERFORM finshard.fail('FS075', format('archive file %s cannot be loaded as its manifest describes', v_file), format('%s: %s', SQLSTATE, SQLERRM));
    END;
    SELECT * INTO v_loaded FROM finshard._row_digest(table_name::regclass);
    IF (v_loaded.row_count::text, v_loaded.digest::text) IS DISTINCT FROM (v_manifest->>'rows', v_manifest->>'row_digest') THEN
        PERFORM finshard.fail('FS075', format('archive file %s loaded %s rows that differ from the %s rows its manifest records',
                                              v_file, v_loaded.row_count, v_manifest->>'rows'));
    END IF;
    EXECUTE format('GRANT SELECT ON %s TO finshard_admin, finshard_readonly', table_name);
    EXECUTE format('COMMENT ON TABLE %s IS %L', table_name,
                   format('Archive of %s (%s .. %s), loaded from %s (sha256 %s) for an audit', v_manifest->>'table',
                          v_manifest->>'range_from', v_manifest->>'range_to', v_file, sha256));
    row_count := v_loaded.row_count;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION finshard.restore_archive(text) IS 'Loads an archive written by retire_partitions (p_file: <partition>.csv.gz in the archive directory) into finshard_archive.<partition>, readable by finshard_admin and finshard_readonly, after checking its sha256 against the manifest and its rows against the manifest''s count and digest. Raises FS001, FS072, FS073 (not an archive in the archive directory), FS074 (missing), FS075 (does not match), FS076 (already loaded)';
REVOKE ALL ON FUNCTION finshard.restore_archive(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.restore_archive(text) TO finshard_admin;
