CREATE OR REPLACE FUNCTION finshard._read_manifest(p_path text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    v_json jsonb;
BEGIN
    BEGIN
        v_json := pg_read_file(finshard._archive_path(p_path))::jsonb;
    EXCEPTION WHEN undefined_file OR invalid_text_representation OR insufficient_privilege OR io_error THEN
        PERFORM finshard.fail('FS075', format('manifest %s is missing or not finshard''s', p_path), format('%s: %s', SQLSTATE, SQLERRM));
    END;
    IF jsonb_typeof(v_json) IS DISTINCT FROM 'object' OR v_json->>'format' IS DISTINCT FROM 'finshard partition archive 1' THEN
        PERFORM finshard.fail('FS075', format('manifest %s is not a finshard partition archive manifest', p_path));
    END IF;
    RETURN v_json;
END
$$;
COMMENT ON FUNCTION finshard._read_manifest(text) IS 'The JSON manifest at p_path (server file); raises FS073, FS075 when missing, unreadable or not finshard''s';
REVOKE ALL ON FUNCTION finshard._read_manifest(text) FROM PUBLIC;
