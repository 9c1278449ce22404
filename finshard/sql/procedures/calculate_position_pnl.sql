CREATE OR REPLACE FUNCTION finshard.calculate_position_pnl(p_account_id bigint, p_instrument_id bigint,
                                                           p_current_price numeric DEFAULT NULL,
                                                           p_session text DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_price numeric := p_current_price;
    v_pnl   numeric;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('calculate_position_pnl');
    END IF;
    -- Who may do this, for whom: docs/roles.md.
    PERFORM finshard._authorize(p_session, p_account_id, 'owner_or_admin');
    PERFORM finshard._not_null(p_account_id, 'p_account_id');
    PERFORM finshard._not_null(p_instrument_id, 'p_instrument_id');
    IF v_price IS NULL THEN
        -- At market: the latest quote's mid.
        SELECT (i.bid_price + i.ask_price) / 2 INTO v_price FROM finshard.instruments i WHERE i.instrument_id = p_instrument_id;
        IF NOT FOUND THEN
            PERFORM finshard.fail('FS050', format('instrument %s does not exist', p_instrument_id));
        END IF;
        IF v_price IS NULL THEN
            PERFORM finshard.fail('FS054', format('instrument %s has no quote; pass p_current_price', p_instrument_id));
        END IF;
    ELSIF v_price = 'NaN'::numeric OR v_price <= 0 OR v_price >= 1e12 THEN
        PERFORM finshard.fail('FS002', format('p_current_price %s must be > 0 and < 1e12', v_price));
    END IF;
    UPDATE finshard.positions p
       SET unrealized_pnl = round(p.quantity * (v_price - p.average_price), 4), updated_at = now()
     WHERE p.account_id = p_account_id AND p.instrument_id = p_instrument_id
       -- numeric(22,4) holds less than 1e18: compared here, not caught as 22003.
       AND abs(round(p.quantity * (v_price - p.average_price), 4)) < 1e18
    RETURNING p.unrealized_pnl INTO v_pnl;
    IF NOT FOUND THEN
        IF NOT EXISTS (SELECT 1 FROM finshard.accounts a WHERE a.account_id = p_account_id) THEN
            PERFORM finshard.fail('FS010', format('account %s does not exist', p_account_id));
        END IF;
        -- With p_current_price the instrument was not read above: an unknown one is not a missing position.
        IF NOT EXISTS (SELECT 1 FROM finshard.instruments i WHERE i.instrument_id = p_instrument_id) THEN
            PERFORM finshard.fail('FS050', format('instrument %s does not exist', p_instrument_id));
        END IF;
        IF EXISTS (SELECT 1 FROM finshard.positions p WHERE p.account_id = p_account_id AND p.instrument_id = p_instrument_id) THEN
            PERFORM finshard.fail('FS004', format('the P&L of account %s in instrument %s at %s is beyond what a balance holds (< 1e18)',
                                                  p_account_id, p_instrument_id, v_price));
        END IF;
        PERFORM finshard.fail('FS063', format('account %s holds no position in instrument %s', p_account_id, p_instrument_id));
    END IF;
    RETURN v_pnl;
END
$$;
COMMENT ON FUNCTION finshard.calculate_position_pnl(bigint, bigint, numeric, text) IS 'Unrealized P&L of a position = quantity x (price - average price) at p_current_price, or at the latest quote mid when NULL; stores and returns it. Raises FS001, FS002, FS004, FS010, FS050, FS054, FS063, FS080-FS085';
REVOKE ALL ON FUNCTION finshard.calculate_position_pnl(bigint, bigint, numeric, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.calculate_position_pnl(bigint, bigint, numeric, text) TO finshard_app, finshard_admin;
