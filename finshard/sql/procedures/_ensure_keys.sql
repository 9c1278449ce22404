CREATE OR REPLACE FUNCTION finshard._ensure_keys()
RETURNS text[]
LANGUAGE plpgsql
AS $$
DECLARE
    v_name     text;
    v_found    text[];
    v_missing  boolean;
    v_content  text;
    v_made     text[] := '{}';
    v_read     text;
BEGIN
    -- Every node holds the same key files: a delegated call hashes and encrypts on the worker.
    FOREACH v_name IN ARRAY ARRAY['audit', 'pan', 'pii'] LOOP
        v_read := format('SELECT pg_read_file(finshard._key_path(%L), 0, 100000, true)', v_name);
        EXECUTE v_read INTO v_content;
        v_found := ARRAY[v_content];
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
            EXECUTE 'SELECT array_agg(CASE WHEN success AND result <> '''' THEN result END) FROM run_command_on_workers($1)'
               INTO v_found USING v_read;
            v_found := v_content || v_found;
        END IF;
        -- An empty file is a missing key; a malformed one is refused by _key and left for the operator.
        v_found := ARRAY(SELECT nullif(btrim(f), '') FROM unnest(v_found) f);
        v_missing := EXISTS (SELECT 1 FROM unnest(v_found) f WHERE f IS NULL);
        IF (SELECT count(DISTINCT f) FROM unnest(v_found) f) > 1 THEN
            PERFORM finshard.fail('FS090', format('the nodes hold different %s keys: copy one finshard_%s.key to every node''s data directory',
                                                  v_name, v_name));
        END IF;
        IF v_missing THEN
            -- A new key, or the one the other nodes hold (a node added since).
            v_content := coalesce((SELECT f FROM unnest(v_found) f WHERE f IS NOT NULL LIMIT 1),
                                  '1 ' || encode(public.gen_random_bytes(32), 'hex') || E'\n');
            PERFORM finshard._write_key(v_name, v_content);
            v_made := v_made || v_name;
        END IF;
    END LOOP;
    RETURN v_made;
END
$$;
COMMENT ON FUNCTION finshard._ensure_keys() IS 'Creates the key files (audit, pan, pii) wherever they are missing, the same on every node; raises FS090 when nodes hold different keys. Returns the keys written. install.sql runs it (a superuser)';
REVOKE ALL ON FUNCTION finshard._ensure_keys() FROM PUBLIC;
