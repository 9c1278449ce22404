CREATE OR REPLACE FUNCTION finshard.commission(p_notional numeric, p_currency text)
RETURNS numeric
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_minor smallint;
BEGIN
    IF current_query() IS NULL THEN PERFORM finshard._refuse_call('commission'); END IF;
    -- PL/pgSQL, so that an unknown currency is refused: its minor units decide the rounding.
    PERFORM finshard._not_null(p_notional, 'p_notional');
    PERFORM finshard._not_null(p_currency, 'p_currency');
    IF p_notional = 'NaN'::numeric OR p_notional < 0 OR p_notional >= 1e18 THEN
        PERFORM finshard.fail('FS002', format('p_notional %s must be a finite amount >= 0 and < 1e18', p_notional));
    END IF;
    SELECT c.minor_units INTO v_minor FROM finshard.currencies c WHERE c.code = p_currency;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS017', format('currency %s is not in finshard.currencies', left(p_currency, 20)));
    END IF;
    RETURN finshard._fee(p_notional, v_minor);
END
$$;
COMMENT ON FUNCTION finshard.commission(numeric, text) IS 'Fee schedule: commission on a fill of notional p_notional in p_currency = 0.10% rounded to the currency''s minor units, no minimum. Raises FS001, FS002, FS017';
REVOKE ALL ON FUNCTION finshard.commission(numeric, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.commission(numeric, text) TO finshard_app, finshard_admin, finshard_readonly;
