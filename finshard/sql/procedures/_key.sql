CREATE OR REPLACE FUNCTION finshard._key(p_name text)
RETURNS bytea
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    v_text text;
BEGIN
    -- Keys live in files beside the data (finshard_<name>.key in the data directory, owned by the
    -- server's user), never in a table: whoever can write the tables cannot read them.
    -- IMMUTABLE, so that a call with a constant name is read once per cached plan, not on every
    -- row: the audit and PAN keys do not change while a cluster runs (the personal-data key
    -- rotates and is read by _pii_keys, every time).
    -- missing_ok rather than an EXCEPTION block: that is a subtransaction, which Citus repeats as a
    -- savepoint on every remote connection of the transaction, and Citus plans (so reads) it per call.
    v_text := pg_catalog.pg_read_file(finshard._key_path(p_name), 0, 65536, true);
    IF v_text IS NULL THEN
        PERFORM finshard.fail('FS090', format('key %s is unavailable on this node (no file %s)', p_name, finshard._key_path(p_name)));
    END IF;
    -- Lines of "<version> <hex key>", the key in force first: 32 bytes or more, or no key at all.
    IF btrim(split_part(v_text, E'\n', 1)) !~ '^[0-9]+ ([0-9a-f]{2}){32,}$' THEN
        PERFORM finshard.fail('FS090', format('key %s is malformed on this node: expected "<version> <64+ hex digits>"', p_name));
    END IF;
    RETURN decode(split_part(btrim(split_part(v_text, E'\n', 1)), ' ', 2), 'hex');
END
$$;
COMMENT ON FUNCTION finshard._key(text) IS 'The key in force of file finshard_<p_name>.key in the data directory (audit, pan); raises FS090 when it is missing';
REVOKE ALL ON FUNCTION finshard._key(text) FROM PUBLIC;
