CREATE OR REPLACE FUNCTION finshard._archive_partition(p_table regclass, p_partition text, p_from timestamptz, p_to timestamptz,
                                                        p_dir text, OUT file text, OUT row_count bigint, OUT sha256 text)
LANGUAGE plpgsql
AS $$
DECLARE
    v_rel      regclass := format('finshard.%I', p_partition)::regclass;
    v_manifest text;
    v_table    record;
    v_file     record;
    v_json     jsonb;
    v_old      jsonb;
BEGIN
    -- Partition names are finshard's own (<table>_pYYYY_MM): checked anyway, they become file names.
    IF p_partition !~ '^[a-z0-9_]+$' THEN
        PERFORM finshard.fail('FS073', format('partition name %s cannot name an archive file', p_partition));
    END IF;
    file := finshard._archive_path(p_dir || '/' || p_partition || '.csv.gz');
    v_manifest := p_dir || '/' || p_partition || '.manifest.json';
    SELECT * INTO v_table FROM finshard._row_digest(v_rel);
    -- An archive already there (a run that stopped before its drop) is never overwritten: it is
    -- verified like a new one, and a file that does not match refuses the drop.
    IF pg_stat_file(file, true) IS NULL THEN
        BEGIN
            EXECUTE format('COPY (SELECT * FROM %s) TO PROGRAM %L WITH (FORMAT csv, HEADER)', v_rel,
                           format('umask 027 && gzip > %s.tmp && mv %s.tmp %s', quote_literal(file), quote_literal(file), quote_literal(file)));
        EXCEPTION WHEN external_routine_exception THEN
            PERFORM finshard.fail('FS074', format('cannot write archive file %s', file), SQLERRM);
        END;
    END IF;
    -- Verified against the table: the file is read back into a scratch table and both digests compared.
    IF to_regclass('pg_temp.finshard_archive_check') IS NOT NULL THEN
        DROP TABLE pg_temp.finshard_archive_check;
    END IF;
    EXECUTE format('CREATE TEMP TABLE finshard_archive_check (LIKE %s)', v_rel);
    BEGIN
        EXECUTE format('COPY pg_temp.finshard_archive_check FROM PROGRAM %L WITH (FORMAT csv, HEADER MATCH)',
                       format('gzip -dc %s', quote_literal(file)));
    EXCEPTION WHEN OTHERS THEN
        PERFORM finshard.fail('FS075', format('archive file %s cannot be read back as %s; %s is kept', file, p_partition, p_partition),
                              format('%s: %s', SQLSTATE, SQLERRM));
    END;
    SELECT * INTO v_file FROM finshard._row_digest('pg_temp.finshard_archive_check'::regclass);
    DROP TABLE pg_temp.finshard_archive_check;
    IF (v_file.row_count, v_file.digest) IS DISTINCT FROM (v_table.row_count, v_table.digest) THEN
        PERFORM finshard.fail('FS075', format('archive file %s holds %s rows that differ from the %s rows of %s; %s is kept',
                                              file, v_file.row_count, v_table.row_count, p_partition, p_partition));
    END IF;
    row_count := v_table.row_count;
    sha256 := finshard._sha256_file(file);
    -- Column types as stored, domains and enums as their base type: an archive is read back
    -- years later, when finshard's own types may have changed.
    v_json := jsonb_build_object(
        'format', 'finshard partition archive 1', 'table', p_table::text, 'partition', p_partition,
        'range_from', p_from, 'range_to', p_to, 'rows', row_count, 'row_digest', v_table.digest::text,
        'file', p_partition || '.csv.gz', 'sha256', sha256, 'archived_at', now(),
        'columns', (SELECT jsonb_agg(jsonb_build_object('name', a.attname,
                                     'type', CASE t.typtype WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod)
                                                            WHEN 'e' THEN 'text'
                                                            ELSE format_type(a.atttypid, a.atttypmod) END) ORDER BY a.attnum)
                      FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                     WHERE a.attrelid = v_rel AND a.attnum > 0 AND NOT a.attisdropped));
    IF pg_stat_file(v_manifest, true) IS NOT NULL THEN
        v_old := finshard._read_manifest(v_manifest);
        IF (v_old->>'rows', v_old->>'row_digest', v_old->>'sha256') IS DISTINCT FROM (row_count::text, v_table.digest::text, sha256) THEN
            PERFORM finshard.fail('FS075', format('manifest %s does not describe archive file %s; %s is kept', v_manifest, file, p_partition));
        END IF;
        RETURN;
    END IF;
    -- Base64 through COPY: the JSON reaches the file byte for byte (COPY's text format would
    -- escape backslashes), then a rename, so a manifest is whole or absent.
    BEGIN
        EXECUTE format('COPY (SELECT translate(encode(convert_to(%L, ''UTF8''), ''base64''), E''\n'', '''')) TO PROGRAM %L',
                       jsonb_pretty(v_json) || E'\n',
                       format('umask 027 && base64 -d > %s.tmp && mv %s.tmp %s', quote_literal(v_manifest), quote_literal(v_manifest), quote_literal(v_manifest)));
    EXCEPTION WHEN external_routine_exception THEN
        PERFORM finshard.fail('FS074', format('cannot write manifest %s', v_manifest), SQLERRM);
    END;
END
$$;
COMMENT ON FUNCTION finshard._archive_partition(regclass, text, timestamptz, timestamptz, text) IS 'Writes partition p_partition to p_dir/<partition>.csv.gz (or keeps the file already there), verifies it against the table by reading it back, and writes its manifest (rows, row digest, sha256, columns); raises FS073-FS075 and leaves the partition alone on any mismatch';
REVOKE ALL ON FUNCTION finshard._archive_partition(regclass, text, timestamptz, timestamptz, text) FROM PUBLIC;
