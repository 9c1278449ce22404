CREATE OR REPLACE FUNCTION finshard.create_price_alert(p_account_id bigint, p_instrument_id bigint, p_condition text, p_price numeric,
                                                       p_session text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_acc      record;
    v_alert_id bigint;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('create_price_alert');
    END IF;
    -- Who may do this, for whom: docs/roles.md.
    PERFORM finshard._authorize(p_session, p_account_id, 'owner');
    PERFORM finshard._not_null(p_account_id, 'p_account_id');
    PERFORM finshard._not_null(p_condition, 'p_condition');
    PERFORM finshard._not_null(p_price, 'p_price');
    PERFORM finshard._instrument(p_instrument_id);
    -- Stored as numeric(20,8): a price that rounds to 0 there is no price.
    IF p_condition NOT IN ('above', 'below') OR p_price = 'NaN'::numeric OR round(p_price, 8) <= 0 OR p_price >= 1e12 THEN
        PERFORM finshard.fail('FS062', format('alert %L %s: condition must be above or below, price > 0', left(p_condition, 40), p_price));
    END IF;
    SELECT * INTO v_acc FROM finshard._lock_account(p_account_id);
    IF v_acc.status = 'closed' THEN
        PERFORM finshard.fail('FS011', format('account %s is closed', p_account_id));
    END IF;
    -- Every quote update looks for the armed alerts it crosses: an account may not make that cost
    -- grow without bound (cancel_price_alert frees a place).
    IF (SELECT count(*) FROM finshard.price_alerts a WHERE a.account_id = p_account_id AND a.fired_at IS NULL) >= 100 THEN
        PERFORM finshard.fail('FS065', format('account %s has 100 armed price alerts, the most an account keeps; cancel one first', p_account_id));
    END IF;
    INSERT INTO finshard.price_alerts (account_id, instrument_id, condition, price)
    VALUES (p_account_id, p_instrument_id, p_condition, p_price)
    RETURNING alert_id INTO v_alert_id;
    PERFORM finshard._audit(p_account_id, 'create_price_alert',
                            jsonb_build_object('alert_id', v_alert_id, 'instrument_id', p_instrument_id,
                                               'condition', p_condition, 'price', p_price));
    RETURN v_alert_id;
END
$$;
COMMENT ON FUNCTION finshard.create_price_alert(bigint, bigint, text, numeric, text) IS 'Arms an alert that fires once (notification + pg_notify on finshard_events) when the quote mid goes above or below p_price; returns alert_id. At most 100 armed per account. Raises FS001, FS010, FS011, FS019, FS050, FS051, FS062, FS065, FS080-FS085';
REVOKE ALL ON FUNCTION finshard.create_price_alert(bigint, bigint, text, numeric, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.create_price_alert(bigint, bigint, text, numeric, text) TO finshard_app, finshard_admin;
