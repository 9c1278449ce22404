CREATE OR REPLACE FUNCTION finshard._local_detach(p_parent text, p_part text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    -- Citus drops a shard it no longer places here on its own schedule, which may be now: a shard
    -- gone meanwhile is detached already. (Maintenance, not a hot path: the subtransaction is fine.)
    EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', p_parent, p_part);
EXCEPTION WHEN undefined_table THEN
    NULL;
END
$$;
COMMENT ON FUNCTION finshard._local_detach(text, text) IS 'Detaches shard p_part from finshard_local stand-in p_parent (both qualified names); nothing when Citus dropped the shard meanwhile';
REVOKE ALL ON FUNCTION finshard._local_detach(text, text) FROM PUBLIC;
