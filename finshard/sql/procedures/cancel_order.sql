CREATE OR REPLACE FUNCTION finshard.cancel_order(p_account_id bigint, p_order_id bigint,
                                                 p_session text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_status text;
    v_created_at timestamptz;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('cancel_order');
    END IF;
    -- Who may do this, for whom: docs/roles.md.
    PERFORM finshard._authorize(p_session, p_account_id, 'owner');
    PERFORM finshard._not_null(p_account_id, 'p_account_id');
    PERFORM finshard._not_null(p_order_id, 'p_order_id');
    PERFORM finshard._lock_account(p_account_id);
    SELECT o.status, o.created_at INTO v_status, v_created_at FROM finshard.orders o
     WHERE o.account_id = p_account_id AND o.order_id = p_order_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS060', format('account %s has no order %s', p_account_id, p_order_id));
    END IF;
    IF v_status NOT IN ('new', 'partially_filled') THEN
        PERFORM finshard.fail('FS061', format('order %s is %s and cannot be cancelled', p_order_id, v_status));
    END IF;
    PERFORM finshard._close_order(p_account_id, p_order_id, 'cancelled', v_created_at);
    PERFORM finshard._audit(p_account_id, 'cancel_order', jsonb_build_object('order_id', p_order_id));
END
$$;
COMMENT ON FUNCTION finshard.cancel_order(bigint, bigint, text) IS 'Cancels an open order and releases what it reserved (filled parts stay filled). Raises FS001, FS010, FS019, FS060, FS061, FS080-FS085';
REVOKE ALL ON FUNCTION finshard.cancel_order(bigint, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.cancel_order(bigint, bigint, text) TO finshard_app, finshard_admin;
