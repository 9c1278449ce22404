CREATE OR REPLACE FUNCTION finshard.fx_rate(p_base_currency text, p_quote_currency text, p_at timestamptz DEFAULT now())
RETURNS numeric
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rate numeric;
BEGIN
    IF current_query() IS NULL THEN PERFORM finshard._refuse_call('fx_rate'); END IF;
    -- Tests of values only: a cross-currency transfer calls this, and a statement more would cost it.
    IF p_base_currency IS NULL OR p_quote_currency IS NULL OR p_at IS NULL THEN
        PERFORM finshard._not_null(p_base_currency, 'p_base_currency');
        PERFORM finshard._not_null(p_quote_currency, 'p_quote_currency');
        PERFORM finshard._not_null(p_at, 'p_at');
    END IF;
    IF p_base_currency = p_quote_currency THEN
        IF NOT EXISTS (SELECT 1 FROM finshard.currencies c WHERE c.code = p_base_currency) THEN
            PERFORM finshard.fail('FS017', format('currency %s is not in finshard.currencies', left(p_base_currency, 20)));
        END IF;
        RETURN 1;
    END IF;
    -- The direct rate in force, else the inverse of the reverse pair's.
    SELECT r.rate INTO v_rate FROM finshard.fx_rates r
     WHERE r.base_currency = p_base_currency AND r.quote_currency = p_quote_currency AND r.valid_from <= p_at
     ORDER BY r.valid_from DESC LIMIT 1;
    IF v_rate IS NULL THEN
        SELECT round(1 / r.rate, 10) INTO v_rate FROM finshard.fx_rates r
         WHERE r.base_currency = p_quote_currency AND r.quote_currency = p_base_currency AND r.valid_from <= p_at
         ORDER BY r.valid_from DESC LIMIT 1;
    END IF;
    IF v_rate IS NULL THEN
        -- No rate: first say so when a code is unknown (lowercase included), only then that the rate is missing.
        IF NOT EXISTS (SELECT 1 FROM finshard.currencies c WHERE c.code = p_base_currency) THEN
            PERFORM finshard.fail('FS017', format('currency %s is not in finshard.currencies', left(p_base_currency, 20)));
        END IF;
        IF NOT EXISTS (SELECT 1 FROM finshard.currencies c WHERE c.code = p_quote_currency) THEN
            PERFORM finshard.fail('FS017', format('currency %s is not in finshard.currencies', left(p_quote_currency, 20)));
        END IF;
        PERFORM finshard.fail('FS018', format('no exchange rate %s/%s is in force at %s', p_base_currency, p_quote_currency, p_at));
    END IF;
    RETURN v_rate;
END
$$;
COMMENT ON FUNCTION finshard.fx_rate(text, text, timestamptz) IS 'The rate (1 base = rate quote) in force at p_at, from the direct pair or the inverse of the reverse one. Raises FS001, FS017, FS018';
REVOKE ALL ON FUNCTION finshard.fx_rate(text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.fx_rate(text, text, timestamptz) TO finshard_app, finshard_market, finshard_admin, finshard_readonly;
