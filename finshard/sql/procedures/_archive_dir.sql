CREATE OR REPLACE FUNCTION finshard._archive_dir(p_required boolean)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_dir text;
BEGIN
    SELECT nullif(s.value, '') INTO v_dir FROM finshard.settings s WHERE s.key = 'archive_dir';
    IF v_dir IS NULL THEN
        IF p_required THEN
            PERFORM finshard.fail('FS072', 'no archive directory is set (finshard.settings archive_dir): partitions are archived before they are dropped');
        END IF;
        RETURN NULL;
    END IF;
    -- Checked again on every use: the setting is a table row a superuser may have edited by hand.
    RETURN finshard._archive_path(v_dir);
END
$$;
COMMENT ON FUNCTION finshard._archive_dir(boolean) IS 'The archive directory (finshard.settings archive_dir), checked by _archive_path; NULL when unset, or FS072 when p_required';
REVOKE ALL ON FUNCTION finshard._archive_dir(boolean) FROM PUBLIC;
