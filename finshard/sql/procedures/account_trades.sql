CREATE OR REPLACE FUNCTION finshard.account_trades(p_account_id bigint,
                                                   p_instrument_id bigint DEFAULT NULL,
                                                   p_from timestamptz DEFAULT NULL,
                                                   p_before_executed_at timestamptz DEFAULT NULL,
                                                   p_before_trade_id bigint DEFAULT NULL,
                                                   p_limit integer DEFAULT 50,
                                                   p_session text DEFAULT NULL)
RETURNS TABLE (trade_id bigint, order_id bigint, instrument_id bigint, side text, quantity numeric, price numeric,
               commission numeric, realized_pnl numeric, executed_at timestamptz)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Who may do this, for whom: docs/roles.md.
    PERFORM finshard._authorize(p_session, p_account_id, 'read');
    PERFORM finshard._not_null(p_account_id, 'p_account_id');
    PERFORM finshard._check_limit(p_limit, 1000);
    -- An unknown id is an error, not an empty page.
    IF NOT EXISTS (SELECT 1 FROM finshard.accounts a WHERE a.account_id = p_account_id) THEN
        PERFORM finshard.fail('FS010', format('account %s does not exist', p_account_id));
    END IF;
    IF p_instrument_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM finshard.instruments i WHERE i.instrument_id = p_instrument_id) THEN
        PERFORM finshard.fail('FS050', format('instrument %s does not exist', p_instrument_id));
    END IF;
    RETURN QUERY
        SELECT t.trade_id, t.order_id, t.instrument_id, t.side, t.quantity, t.price, t.commission, t.realized_pnl, t.executed_at
          FROM finshard.trades t
         WHERE t.account_id = p_account_id
           AND (p_instrument_id IS NULL OR t.instrument_id = p_instrument_id)
           AND (p_from IS NULL OR t.executed_at >= p_from)
           AND (p_before_executed_at IS NULL OR (t.executed_at, t.trade_id) < (p_before_executed_at, coalesce(p_before_trade_id, 0)))
         ORDER BY t.executed_at DESC, t.trade_id DESC
         LIMIT p_limit;
END
$$;
COMMENT ON FUNCTION finshard.account_trades(bigint, bigint, timestamptz, timestamptz, bigint, integer, text) IS 'An account''s trades, newest first, by instrument and since p_from, p_limit at a time (keyset: p_before_executed_at, p_before_trade_id). Raises FS001, FS005, FS010, FS050, FS080-FS085';
REVOKE ALL ON FUNCTION finshard.account_trades(bigint, bigint, timestamptz, timestamptz, bigint, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.account_trades(bigint, bigint, timestamptz, timestamptz, bigint, integer, text) TO finshard_app, finshard_admin, finshard_readonly;
