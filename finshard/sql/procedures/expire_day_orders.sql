CREATE OR REPLACE FUNCTION finshard.expire_day_orders(p_cutoff timestamptz DEFAULT date_trunc('day', now(), 'UTC'))
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_order record;
    v_count integer := 0;
BEGIN
    -- A standby's own answer comes below (pg_cron runs this on standbys too).
    IF current_query() IS NULL OR (current_setting('transaction_read_only') = 'on' AND NOT pg_is_in_recovery())
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('expire_day_orders');
    END IF;
    -- No end user: the audit entries this may write (fills, expiries) name none, whatever a caller SET.
    PERFORM pg_catalog.set_config('finshard.on_behalf_of', '', true);
    PERFORM finshard._not_null(p_cutoff, 'p_cutoff');
    -- 'infinity' would expire every open DAY order, today's included.
    IF NOT isfinite(p_cutoff) THEN
        PERFORM finshard.fail('FS070', format('p_cutoff %s must be a finite time', p_cutoff));
    END IF;
    -- Maintenance does nothing on a standby, and never runs twice at once: a second run would read
    -- the same orders and wait on the first's account locks only to skip them.
    IF pg_is_in_recovery() THEN
        RAISE NOTICE 'finshard.expire_day_orders: standby, nothing done';
        RETURN 0;
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('finshard.expire_day_orders')) THEN
        RAISE NOTICE 'finshard.expire_day_orders: another run holds the lock, nothing done';
        RETURN 0;
    END IF;
    -- DAY orders placed before the trading day's start (UTC midnight unless p_cutoff says
    -- otherwise) expire and release their reservations, each on its own account's shard.
    FOR v_order IN
        SELECT o.account_id, o.order_id, o.created_at FROM finshard.orders o
         WHERE o.time_in_force = 'DAY' AND o.status IN ('new', 'partially_filled') AND o.created_at < p_cutoff
    LOOP
        v_count := v_count + finshard._end_order(v_order.account_id, v_order.order_id, v_order.created_at, 'expired')::integer;
    END LOOP;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION finshard.expire_day_orders(timestamptz) IS 'End-of-day maintenance: expires open DAY orders placed before p_cutoff (default: today 00:00 UTC); returns how many; does nothing (returns 0) on a standby or while another run holds the lock. Raises FS001, FS070';
REVOKE ALL ON FUNCTION finshard.expire_day_orders(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.expire_day_orders(timestamptz) TO finshard_admin;
