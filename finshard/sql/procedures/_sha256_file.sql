CREATE OR REPLACE FUNCTION finshard._sha256_file(p_path text)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_line text;
BEGIN
    -- sha256sum streams the file: an archive may be larger than pg_read_binary_file can hold.
    IF to_regclass('pg_temp.finshard_archive_sum') IS NULL THEN
        CREATE TEMP TABLE finshard_archive_sum (line text);
    END IF;
    TRUNCATE pg_temp.finshard_archive_sum;
    BEGIN
        EXECUTE format('COPY pg_temp.finshard_archive_sum FROM PROGRAM %L', format('sha256sum %s', quote_literal(finshard._archive_path(p_path))));
    EXCEPTION WHEN external_routine_exception THEN
        PERFORM finshard.fail('FS074', format('cannot read archive file %s', p_path), SQLERRM);
    END;
    SELECT split_part(s.line, ' ', 1) INTO v_line FROM pg_temp.finshard_archive_sum s;
    RETURN v_line;
END
$$;
COMMENT ON FUNCTION finshard._sha256_file(text) IS 'sha256 (hex) of the server file p_path, read by sha256sum; raises FS073, FS074';
REVOKE ALL ON FUNCTION finshard._sha256_file(text) FROM PUBLIC;
