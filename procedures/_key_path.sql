CREATE OR REPLACE FUNCTION finshard._key_path(p_name text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- finshard.key_dir as the server's configuration files set it (pg_file_settings), never as a
    -- session or a role set it: a caller must not point the keys at a file of its own.
    SELECT coalesce((SELECT nullif(f.setting, '') FROM pg_file_settings f
                      WHERE f.name = 'finshard.key_dir' AND f.applied AND f.error IS NULL
                      ORDER BY f.seqno DESC LIMIT 1),
                    current_setting('data_directory'))
           || '/finshard_' || p_name || '.key'
$$;
COMMENT ON FUNCTION finshard._key_path(text) IS 'Where key file finshard_<p_name>.key lives: the directory the server''s configuration names in finshard.key_dir (an --ha group shares one), else the data directory';
REVOKE ALL ON FUNCTION finshard._key_path(text) FROM PUBLIC;
