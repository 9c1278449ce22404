CREATE OR REPLACE FUNCTION finshard._local_shape(p_rel regclass, p_defaults boolean)
RETURNS text
LANGUAGE sql STABLE
AS $$
    -- What a finshard_local stand-in must share with its table: column names and types, and for a
    -- partitioned stand-in (its inserts take these defaults) NOT NULL and the defaults.
    SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                      || CASE WHEN p_defaults THEN ' ' || a.attnotnull || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
                              ELSE '' END,
                      ', ' ORDER BY a.attname)
      FROM pg_catalog.pg_attribute a
      LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = p_rel AND a.attnum > 0 AND NOT a.attisdropped
$$;
COMMENT ON FUNCTION finshard._local_shape(regclass, boolean) IS 'Column names and types of a relation (with NOT NULL and defaults when p_defaults): what _local_shards compares between a finshard_local stand-in and its table';
REVOKE ALL ON FUNCTION finshard._local_shape(regclass, boolean) FROM PUBLIC;
