CREATE OR REPLACE FUNCTION finshard._instrument(p_instrument_id bigint,
                                                OUT currency text, OUT tick_size numeric, OUT lot_size numeric,
                                                OUT bid_price numeric, OUT bid_size numeric,
                                                OUT ask_price numeric, OUT ask_size numeric, OUT minor_units smallint)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_active boolean;
BEGIN
    PERFORM finshard._not_null(p_instrument_id, 'p_instrument_id');
    -- Two reference tables, one local read: the quote and the decimals of its currency.
    SELECT i.currency, i.tick_size, i.lot_size, i.bid_price, i.bid_size, i.ask_price, i.ask_size, i.is_active, c.minor_units
      INTO currency, tick_size, lot_size, bid_price, bid_size, ask_price, ask_size, v_active, minor_units
      FROM finshard.instruments i JOIN finshard.currencies c ON c.code = i.currency
     WHERE i.instrument_id = p_instrument_id;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS050', format('instrument %s does not exist', p_instrument_id));
    END IF;
    IF NOT v_active THEN
        PERFORM finshard.fail('FS051', format('instrument %s is deactivated', p_instrument_id));
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._instrument(bigint) IS 'An active instrument''s trading parameters and latest quote (a local read of the reference table); raises FS001, FS050, FS051';
REVOKE ALL ON FUNCTION finshard._instrument(bigint) FROM PUBLIC;
