CREATE OR REPLACE FUNCTION finshard._key_path(p_name text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- The directory named by the file finshard_key_dir in the data directory (an --ha group's
    -- members share one; a standby cloned from the primary gets the file), else the data directory.
    -- A file, not a setting: any session may SET a custom setting, and none may write this file.
    SELECT coalesce(nullif(btrim(pg_read_file('finshard_key_dir', 0, 4096, true), E' \n'), ''),
                    current_setting('data_directory'))
           || '/finshard_' || p_name || '.key'
$$;
COMMENT ON FUNCTION finshard._key_path(text) IS 'Where key file finshard_<p_name>.key lives: the directory named in the data directory''s finshard_key_dir file (an --ha group shares one), else the data directory';
REVOKE ALL ON FUNCTION finshard._key_path(text) FROM PUBLIC;
