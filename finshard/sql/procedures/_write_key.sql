CREATE OR REPLACE FUNCTION finshard._write_key(p_name text, p_content text)
RETURNS void
LANGUAGE plpgsql
-- $fn$: the body holds a DO block quoted with $d$ inside a $f$ literal.
AS $fn$
DECLARE
    v_copy text;
    v_node record;
BEGIN
    -- Key files hold hex digits, spaces and newlines only: nothing to quote, no path to escape.
    IF p_name !~ '^[a-z]+$' OR p_content !~ '^[0-9a-f \n]+$' THEN
        PERFORM finshard.fail('FS005', format('key %s: malformed name or content', p_name));
    END IF;
    -- COPY writes one line per row (a newline inside a value would be escaped) and takes an
    -- absolute path only: each node's own data directory, read where it runs.
    v_copy := format($f$DO $d$ DECLARE c text := %L; BEGIN EXECUTE 'COPY (SELECT l FROM unnest(string_to_array(' || quote_literal(c) || ', chr(10))) WITH ORDINALITY u (l, n) WHERE l <> '''' ORDER BY n) TO ' || quote_literal(finshard._key_path(%L)); END $d$$f$,
                     p_content, p_name);
    EXECUTE v_copy;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        FOR v_node IN EXECUTE 'SELECT nodename, nodeport, success, result FROM run_command_on_workers($1)' USING v_copy LOOP
            IF NOT v_node.success THEN
                PERFORM finshard.fail('FS090', format('cannot write key %s on %s:%s: %s', p_name, v_node.nodename, v_node.nodeport,
                                                      v_node.result));
            END IF;
        END LOOP;
    END IF;
END
$fn$;
COMMENT ON FUNCTION finshard._write_key(text, text) IS 'Writes key file finshard_<p_name>.key with p_content (lines of "<version> <hex>") into the data directory of this node and of every Citus worker (superuser only)';
REVOKE ALL ON FUNCTION finshard._write_key(text, text) FROM PUBLIC;
