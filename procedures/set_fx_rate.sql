CREATE OR REPLACE FUNCTION finshard.set_fx_rate(p_base_currency text, p_quote_currency text, p_rate numeric,
                                                p_valid_from timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM finshard._not_null(p_base_currency, 'p_base_currency');
    PERFORM finshard._not_null(p_quote_currency, 'p_quote_currency');
    PERFORM finshard._not_null(p_rate, 'p_rate');
    PERFORM finshard._not_null(p_valid_from, 'p_valid_from');
    -- Stored at 10 decimals: a rate that rounds to 0 there would fail the table's CHECK (23514).
    IF p_rate = 'NaN'::numeric OR p_rate = 'Infinity'::numeric OR p_rate <= 0 OR p_rate >= 1e14 OR round(p_rate, 10) = 0 THEN
        PERFORM finshard.fail('FS002', format('rate %s must be finite, >= 1e-10 and < 1e14', p_rate));
    END IF;
    -- An infinite start would be in force forever (or never): rates start at a real instant.
    IF NOT isfinite(p_valid_from) THEN
        PERFORM finshard.fail('FS070', format('p_valid_from %s must be a finite time', p_valid_from));
    END IF;
    IF p_base_currency = p_quote_currency THEN
        PERFORM finshard.fail('FS005', format('a rate needs two different currencies, not %s twice', p_base_currency));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM finshard.currencies c WHERE c.code = p_base_currency) THEN
        PERFORM finshard.fail('FS017', format('currency %s is not in finshard.currencies', p_base_currency));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM finshard.currencies c WHERE c.code = p_quote_currency) THEN
        PERFORM finshard.fail('FS017', format('currency %s is not in finshard.currencies', p_quote_currency));
    END IF;
    INSERT INTO finshard.fx_rates (base_currency, quote_currency, rate, valid_from)
    VALUES (p_base_currency, p_quote_currency, round(p_rate, 10), p_valid_from)
    ON CONFLICT (base_currency, quote_currency, valid_from) DO UPDATE SET rate = EXCLUDED.rate;
    PERFORM finshard._audit(0, 'set_fx_rate', jsonb_build_object('base', p_base_currency, 'quote', p_quote_currency,
                                                                 'rate', p_rate, 'valid_from', p_valid_from));
END
$$;
COMMENT ON FUNCTION finshard.set_fx_rate(text, text, numeric, timestamptz) IS 'Records 1 p_base_currency = p_rate p_quote_currency from p_valid_from on. Raises FS001, FS002, FS005, FS017, FS070';
REVOKE ALL ON FUNCTION finshard.set_fx_rate(text, text, numeric, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.set_fx_rate(text, text, numeric, timestamptz) TO finshard_app;
