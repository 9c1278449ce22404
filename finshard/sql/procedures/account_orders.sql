CREATE OR REPLACE FUNCTION finshard.account_orders(p_account_id bigint,
                                                   p_status text DEFAULT NULL,
                                                   p_instrument_id bigint DEFAULT NULL,
                                                   p_before_created_at timestamptz DEFAULT NULL,
                                                   p_before_order_id bigint DEFAULT NULL,
                                                   p_limit integer DEFAULT 50,
                                                   p_session text DEFAULT NULL)
RETURNS TABLE (order_id bigint, instrument_id bigint, order_type text, side text, quantity numeric, price numeric,
               stop_price numeric, time_in_force text, status text, filled_quantity numeric, average_fill_price numeric,
               created_at timestamptz, filled_at timestamptz)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Who may do this, for whom: docs/roles.md.
    PERFORM finshard._authorize(p_session, p_account_id, 'read');
    PERFORM finshard._not_null(p_account_id, 'p_account_id');
    PERFORM finshard._check_limit(p_limit, 1000);
    IF p_status NOT IN ('new', 'partially_filled', 'filled', 'cancelled', 'expired', 'rejected') THEN
        PERFORM finshard.fail('FS005', format('p_status %L is not new, partially_filled, filled, cancelled, expired or rejected',
                                              left(p_status, 40)));
    END IF;
    -- An unknown id is an error, not an empty page.
    IF NOT EXISTS (SELECT 1 FROM finshard.accounts a WHERE a.account_id = p_account_id) THEN
        PERFORM finshard.fail('FS010', format('account %s does not exist', p_account_id));
    END IF;
    IF p_instrument_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM finshard.instruments i WHERE i.instrument_id = p_instrument_id) THEN
        PERFORM finshard.fail('FS050', format('instrument %s does not exist', p_instrument_id));
    END IF;
    -- Newest first; keyset pagination: pass the last row's created_at and order_id.
    RETURN QUERY
        SELECT o.order_id, o.instrument_id, o.order_type, o.side, o.quantity, o.price, o.stop_price, o.time_in_force,
               o.status, o.filled_quantity, o.average_fill_price, o.created_at, o.filled_at
          FROM finshard.orders o
         WHERE o.account_id = p_account_id
           AND (p_status IS NULL OR o.status = p_status)
           AND (p_instrument_id IS NULL OR o.instrument_id = p_instrument_id)
           AND (p_before_created_at IS NULL OR (o.created_at, o.order_id) < (p_before_created_at, coalesce(p_before_order_id, 0)))
         ORDER BY o.created_at DESC, o.order_id DESC
         LIMIT p_limit;
END
$$;
COMMENT ON FUNCTION finshard.account_orders(bigint, text, bigint, timestamptz, bigint, integer, text) IS 'An account''s orders, newest first, filtered by status and instrument, p_limit at a time (keyset: p_before_created_at, p_before_order_id). Raises FS001, FS005, FS010, FS050, FS080-FS085';
REVOKE ALL ON FUNCTION finshard.account_orders(bigint, text, bigint, timestamptz, bigint, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.account_orders(bigint, text, bigint, timestamptz, bigint, integer, text) TO finshard_app, finshard_admin, finshard_readonly;
