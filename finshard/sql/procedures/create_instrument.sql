CREATE OR REPLACE FUNCTION finshard.create_instrument(p_symbol text,
                                                      p_name text,
                                                      p_instrument_type text DEFAULT 'stock',
                                                      p_exchange text DEFAULT NULL,
                                                      p_currency text DEFAULT 'USD',
                                                      p_tick_size numeric DEFAULT 0.01,
                                                      p_lot_size numeric DEFAULT 1,
                                                      p_sector text DEFAULT NULL,
                                                      p_industry text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_instrument_id bigint;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('create_instrument');
    END IF;
    -- A role acting as itself, for no end user (and the audit entry says so).
    PERFORM finshard._caller(NULL);
    PERFORM finshard._not_null(p_symbol, 'p_symbol');
    PERFORM finshard._not_null(p_name, 'p_name');
    PERFORM finshard._not_null(p_instrument_type, 'p_instrument_type');
    PERFORM finshard._not_null(p_currency, 'p_currency');
    PERFORM finshard._not_null(p_tick_size, 'p_tick_size');
    PERFORM finshard._not_null(p_lot_size, 'p_lot_size');
    IF p_symbol !~ '^[A-Za-z0-9.\-/:]{1,20}$' THEN
        PERFORM finshard.fail('FS005', format('symbol %L must be 1-20 characters of A-Z 0-9 . - / :', left(p_symbol, 40)));
    END IF;
    PERFORM finshard._check_text(p_name, 'p_name', 255);
    PERFORM finshard._check_text(p_exchange, 'p_exchange', 50);
    PERFORM finshard._check_text(p_sector, 'p_sector', 100);
    PERFORM finshard._check_text(p_industry, 'p_industry', 100);
    IF p_instrument_type NOT IN ('stock', 'etf', 'bond', 'crypto', 'fx', 'future', 'option') THEN
        PERFORM finshard.fail('FS005', format('instrument type %L is not one of stock, etf, bond, crypto, fx, future, option', left(p_instrument_type, 40)));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM finshard.currencies c WHERE c.code = p_currency) THEN
        PERFORM finshard.fail('FS017', format('currency %s is not in finshard.currencies', left(p_currency, 20)));
    END IF;
    IF p_tick_size = 'NaN'::numeric OR p_tick_size <= 0 OR p_tick_size >= 1e6 OR p_tick_size <> round(p_tick_size, 8)
       OR p_lot_size = 'NaN'::numeric OR p_lot_size <= 0 OR p_lot_size >= 1e6 OR p_lot_size <> round(p_lot_size, 8) THEN
        PERFORM finshard.fail('FS002', format('tick size %s and lot size %s must be > 0, < 1e6, with at most 8 decimals', p_tick_size, p_lot_size));
    END IF;
    IF EXISTS (SELECT 1 FROM finshard.instruments i WHERE upper(i.symbol) = upper(p_symbol)) THEN
        PERFORM finshard.fail('FS052', format('symbol %s is taken', upper(p_symbol)));
    END IF;
    INSERT INTO finshard.instruments (symbol, name, instrument_type, exchange, currency, tick_size, lot_size, sector, industry)
    VALUES (upper(p_symbol), p_name, p_instrument_type, p_exchange, p_currency, p_tick_size, p_lot_size, p_sector, p_industry)
    RETURNING instrument_id INTO v_instrument_id;
    PERFORM finshard._audit(0, 'create_instrument', jsonb_build_object('instrument_id', v_instrument_id, 'symbol', upper(p_symbol)));
    RETURN v_instrument_id;
END
$$;
COMMENT ON FUNCTION finshard.create_instrument(text, text, text, text, text, numeric, numeric, text, text) IS 'Lists a tradable instrument (symbol stored upper case, unique); returns instrument_id. Raises FS001, FS002, FS005, FS006, FS017, FS052';
REVOKE ALL ON FUNCTION finshard.create_instrument(text, text, text, text, text, numeric, numeric, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.create_instrument(text, text, text, text, text, numeric, numeric, text, text) TO finshard_admin;
