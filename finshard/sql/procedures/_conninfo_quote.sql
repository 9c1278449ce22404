CREATE OR REPLACE FUNCTION finshard._conninfo_quote(p_value text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
    -- libpq's quoting of a connection-string value: single quotes, with \ and ' escaped by a backslash.
    SELECT '''' || pg_catalog.replace(pg_catalog.replace(p_value, '\', '\\'), '''', '\''') || ''''
$$;
COMMENT ON FUNCTION finshard._conninfo_quote(text) IS 'p_value quoted for a libpq connection string (keyword = ''value'')';
REVOKE ALL ON FUNCTION finshard._conninfo_quote(text) FROM PUBLIC;
