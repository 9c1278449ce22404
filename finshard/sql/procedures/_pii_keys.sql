CREATE OR REPLACE FUNCTION finshard._pii_keys()
RETURNS TABLE (version integer, key text, current boolean)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_text text;
BEGIN
    -- Read on every call (not cached as _key is): finshard keys rotate replaces the file while the
    -- cluster runs. The first line is the key in force; the others are older keys that rows may
    -- still be encrypted with until the rotation has re-encrypted them.
    BEGIN
        v_text := pg_catalog.pg_read_file(finshard._key_path('pii'));
    EXCEPTION WHEN OTHERS THEN
        PERFORM finshard.fail('FS090', format('key pii is unavailable on this node (%s)', SQLERRM));
    END;
    IF btrim(v_text) !~ '^([0-9]+ ([0-9a-f]{2}){32,}\n?)+$' THEN
        PERFORM finshard.fail('FS090', 'key pii is malformed on this node: expected lines "<version> <64+ hex digits>"');
    END IF;
    RETURN QUERY
        SELECT split_part(l.line, ' ', 1)::integer, split_part(l.line, ' ', 2), l.n = 1
          FROM regexp_split_to_table(btrim(v_text), E'\n') WITH ORDINALITY AS l (line, n)
         WHERE l.line <> '';
END
$$;
COMMENT ON FUNCTION finshard._pii_keys() IS 'The personal-data keys of file finshard_pii.key (version, key, whether in force); raises FS090 when it is missing';
REVOKE ALL ON FUNCTION finshard._pii_keys() FROM PUBLIC;
