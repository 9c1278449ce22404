CREATE OR REPLACE FUNCTION finshard._row_digest(p_table regclass, OUT row_count bigint, OUT digest numeric)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    -- Order-independent (a sum of 64-bit row hashes), so a table and its archive compare without
    -- sorting either. The rows are brought to this node first (MATERIALIZED): on Citus the text of
    -- each row is then written here, under the caller's TimeZone and DateStyle, not a worker's.
    EXECUTE format('WITH r AS MATERIALIZED (SELECT * FROM %s) '
                   'SELECT count(*), coalesce(sum((''x'' || left(md5(r::text), 16))::bit(64)::bigint::numeric), 0) FROM r', p_table)
       INTO row_count, digest;
END
$$;
COMMENT ON FUNCTION finshard._row_digest(regclass) IS 'Row count and an order-independent digest of every row''s text: equal for a partition and for its archive loaded back';
REVOKE ALL ON FUNCTION finshard._row_digest(regclass) FROM PUBLIC;
