CREATE OR REPLACE FUNCTION finshard._recovery_hash(p_code text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
    -- Keyed, under the PAN key (the key finshard hashes identifiers with): a copy of the table
    -- cannot be searched for the codes. Spaces, dashes and case are not part of a code.
    SELECT encode(public.hmac(pg_catalog.convert_to(pg_catalog.upper(pg_catalog.regexp_replace(p_code, '[\s-]', '', 'g')), 'UTF8'),
                              finshard._key('pan'), 'sha256'), 'hex')
$$;
COMMENT ON FUNCTION finshard._recovery_hash(text) IS 'How an MFA recovery code is stored and looked up: HMAC-SHA256 under the PAN key of the code without spaces or dashes, upper-cased';
REVOKE ALL ON FUNCTION finshard._recovery_hash(text) FROM PUBLIC;
