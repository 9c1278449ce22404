CREATE OR REPLACE FUNCTION finshard._local_lock(p_exclusive text[], p_parents text[] DEFAULT '{}')
RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    -- Never queue for a shard: a queued ACCESS EXCLUSIVE request stalls every later reader and
    -- writer of that shard behind it, and waiting while holding the locks taken so far can close a
    -- cycle with a multi-shard reader, which Citus' deadlock detector breaks by cancelling the
    -- youngest, often the reader. All or nothing, a few tries; false when the shards stayed busy.
    FOR i IN 1..100 LOOP
        BEGIN
            IF cardinality(p_parents) > 0 THEN
                EXECUTE format('LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE NOWAIT', array_to_string(p_parents, ', '));
            END IF;
            IF cardinality(p_exclusive) > 0 THEN
                EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT', array_to_string(p_exclusive, ', '));
            END IF;
            RETURN true;
        EXCEPTION
            WHEN lock_not_available THEN
                PERFORM pg_sleep(0.02);
            -- Citus dropped one meanwhile (a shard moved or split away): the caller's list is stale.
            WHEN undefined_table THEN
                RETURN false;
        END;
    END LOOP;
    RETURN false;
END
$$;
COMMENT ON FUNCTION finshard._local_lock(text[], text[]) IS 'Takes ACCESS EXCLUSIVE on p_exclusive and SHARE UPDATE EXCLUSIVE on p_parents (LOCK TABLE items, ONLY allowed) without ever waiting in a lock queue: all or none, up to 100 tries 20 ms apart; false when they stayed busy or one was dropped meanwhile';
REVOKE ALL ON FUNCTION finshard._local_lock(text[], text[]) FROM PUBLIC;
