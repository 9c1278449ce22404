CREATE OR REPLACE FUNCTION finshard.deactivate_instrument(p_instrument_id bigint)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_order record;
    v_count integer := 0;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('deactivate_instrument');
    END IF;
    -- A role acting as itself, for no end user (and the audit entry says so).
    PERFORM finshard._caller(NULL);
    PERFORM finshard._not_null(p_instrument_id, 'p_instrument_id');
    -- Run again on a deactivated instrument, it sweeps what an order placed while the first run
    -- worked left open (place_order reads is_active without a lock).
    IF NOT EXISTS (SELECT 1 FROM finshard.instruments i WHERE i.instrument_id = p_instrument_id) THEN
        PERFORM finshard.fail('FS050', format('instrument %s does not exist', p_instrument_id));
    END IF;
    UPDATE finshard.instruments SET is_active = false WHERE instrument_id = p_instrument_id AND is_active;
    -- Its open orders could never fill (no quote is taken for it) nor expire: they end now and
    -- release what they reserve. Accounts in id order, the lock order of every movement.
    FOR v_order IN
        SELECT o.account_id, o.order_id, o.created_at FROM finshard.orders o
         WHERE o.instrument_id = p_instrument_id AND o.status IN ('new', 'partially_filled')
         ORDER BY o.account_id, o.order_id
    LOOP
        v_count := v_count + finshard._end_order(v_order.account_id, v_order.order_id, v_order.created_at, 'cancelled')::integer;
    END LOOP;
    PERFORM finshard._audit(0, 'deactivate_instrument', jsonb_build_object('instrument_id', p_instrument_id,
                                                                          'cancelled_orders', v_count));
END
$$;
COMMENT ON FUNCTION finshard.deactivate_instrument(bigint) IS 'Closes trading in an instrument (new orders are rejected with FS051; open orders are cancelled, releasing what they reserve; run again, it cancels what was placed meanwhile). Raises FS001, FS050';
REVOKE ALL ON FUNCTION finshard.deactivate_instrument(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.deactivate_instrument(bigint) TO finshard_admin;
