CREATE OR REPLACE FUNCTION finshard._archive_path(p_path text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    PERFORM finshard._not_null(p_path, 'archive path');
    -- Archive paths reach a shell (COPY ... PROGRAM) inside single quotes: only absolute paths of
    -- letters, digits and . _ - / are taken, so nothing in one can end the quote or name a parent.
    IF p_path !~ '^(/[A-Za-z0-9._-]+)+$' OR p_path ~ '(^|/)\.\.?(/|$)' OR length(p_path) > 1024 THEN
        PERFORM finshard.fail('FS073', format('archive path %s must be absolute, of letters, digits and . _ - / only, without . or .. parts', p_path));
    END IF;
    -- Never the server's own files: archives written there would sit in every backup and be
    -- removed with the cluster.
    IF p_path = current_setting('data_directory') OR p_path LIKE current_setting('data_directory') || '/%' THEN
        PERFORM finshard.fail('FS073', format('archive path %s is inside the data directory', p_path));
    END IF;
    RETURN p_path;
END
$$;
COMMENT ON FUNCTION finshard._archive_path(text) IS 'Returns p_path if it is safe to hand to a shell and outside the data directory; raises FS001, FS073 otherwise';
REVOKE ALL ON FUNCTION finshard._archive_path(text) FROM PUBLIC;
