CREATE OR REPLACE FUNCTION finshard._fire_price_alerts(p_instrument_id bigint)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_mid   numeric;
    v_alert record;
    v_count integer := 0;
    v_user  bigint;
BEGIN
    SELECT (i.bid_price + i.ask_price) / 2 INTO v_mid FROM finshard.instruments i WHERE i.instrument_id = p_instrument_id;
    -- Armed alerts whose price the mid has crossed fire once: fired_at is set in the same update.
    FOR v_alert IN
        UPDATE finshard.price_alerts a SET fired_at = now()
         WHERE a.instrument_id = p_instrument_id AND a.fired_at IS NULL
           AND ((a.condition = 'above' AND v_mid >= a.price) OR (a.condition = 'below' AND v_mid <= a.price))
        RETURNING a.account_id, a.alert_id, a.condition, a.price
    LOOP
        -- Two statements, not a subquery in the call: Citus would ship the whole call to the shard.
        SELECT ac.user_id INTO v_user FROM finshard.accounts ac WHERE ac.account_id = v_alert.account_id;
        PERFORM finshard._notify(v_alert.account_id, v_user, 'price_alert',
                                 format('Instrument %s is %s %s (mid %s)', p_instrument_id, v_alert.condition, v_alert.price, round(v_mid, 8)),
                                 jsonb_build_object('alert_id', v_alert.alert_id, 'instrument_id', p_instrument_id,
                                                    'condition', v_alert.condition, 'price', v_alert.price, 'mid', v_mid));
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION finshard._fire_price_alerts(bigint) IS 'Fires (once) the armed price alerts of an instrument that its quote mid has crossed: notification row and pg_notify';
REVOKE ALL ON FUNCTION finshard._fire_price_alerts(bigint) FROM PUBLIC;
