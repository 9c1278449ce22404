CREATE OR REPLACE FUNCTION finshard.set_fx_rate(p_base_currency text, p_quote_currency text, p_rate numeric,
                                                p_valid_from timestamptz DEFAULT now(),
                                                p_confirm boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('set_fx_rate');
    END IF;
    -- A role acting as itself, for no end user (and the audit entry says so).
    PERFORM finshard._caller(NULL);
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
    IF NOT coalesce(p_confirm, false) THEN
        PERFORM finshard._check_fx_band(p_base_currency, p_quote_currency, p_rate, p_valid_from);
    END IF;
    INSERT INTO finshard.fx_rates (base_currency, quote_currency, rate, valid_from)
    VALUES (p_base_currency, p_quote_currency, round(p_rate, 10), p_valid_from)
    ON CONFLICT (base_currency, quote_currency, valid_from) DO UPDATE SET rate = EXCLUDED.rate;
    PERFORM finshard._audit(0, 'set_fx_rate', jsonb_build_object('base', p_base_currency, 'quote', p_quote_currency,
                                                                 'rate', p_rate, 'valid_from', p_valid_from,
                                                                 'confirmed', coalesce(p_confirm, false)));
END
$$;
COMMENT ON FUNCTION finshard.set_fx_rate(text, text, numeric, timestamptz, boolean) IS 'Records 1 p_base_currency = p_rate p_quote_currency from p_valid_from on; a rate further than the fx_rate_band setting (10%) from the one in force needs p_confirm => true. Raises FS001, FS002, FS005, FS017, FS070, FS087';
REVOKE ALL ON FUNCTION finshard.set_fx_rate(text, text, numeric, timestamptz, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.set_fx_rate(text, text, numeric, timestamptz, boolean) TO finshard_admin;
