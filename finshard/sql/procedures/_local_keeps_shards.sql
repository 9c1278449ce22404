CREATE OR REPLACE FUNCTION finshard._local_keeps_shards()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_shard text;
BEGIN
    -- A finshard_local table dropped with a shard that was not itself the object dropped: the
    -- shard went with its stand-in (DROP TABLE or DROP SCHEMA ... CASCADE on finshard_local).
    -- Citus dropping a shard names the shard itself, and a shard's own partitions go with it.
    SELECT d.object_identity INTO v_shard
      FROM pg_event_trigger_dropped_objects() d
     WHERE d.schema_name = 'finshard' AND d.object_type = 'table' AND NOT d.original
       AND EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() l
                    WHERE l.schema_name = 'finshard_local' AND l.object_type = 'table')
     LIMIT 1;
    IF v_shard IS NOT NULL THEN
        PERFORM finshard.fail('FS096', format('dropping a finshard_local table would drop the shard %s attached to it', v_shard),
                              'Detach the shards first: SELECT finshard.sync_local_shards(false) on the coordinator.');
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._local_keeps_shards() IS 'Event trigger (sql_drop) on Citus nodes: refuses, with FS096, a drop of a finshard_local table that would take the shards attached to it along';
REVOKE ALL ON FUNCTION finshard._local_keeps_shards() FROM PUBLIC;
