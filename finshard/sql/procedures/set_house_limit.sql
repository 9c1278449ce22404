CREATE OR REPLACE FUNCTION finshard.set_house_limit(p_currency text, p_limit numeric)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('set_house_limit');
    END IF;
    -- A role acting as itself, for no end user (and the audit entry says so).
    PERFORM finshard._caller(NULL);
    PERFORM finshard._not_null(p_currency, 'p_currency');
    PERFORM finshard._not_null(p_limit, 'p_limit');
    IF p_limit = 'NaN'::numeric OR p_limit < 0 OR p_limit >= 1e18 THEN
        PERFORM finshard.fail('FS002', format('house limit %s must be finite, >= 0 and < 1e18', p_limit));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM finshard.currencies c WHERE c.code = p_currency) THEN
        PERFORM finshard.fail('FS017', format('currency %s is not in finshard.currencies', p_currency));
    END IF;
    UPDATE finshard.currencies SET house_limit = p_limit WHERE code = p_currency;
    PERFORM finshard._audit(0, 'set_house_limit', jsonb_build_object('currency', p_currency, 'limit', p_limit));
END
$$;
COMMENT ON FUNCTION finshard.set_house_limit(text, numeric) IS 'Sets how far below zero the house fx account of p_currency may go; a conversion paying out beyond it is refused (FS088). Raises FS001, FS002, FS017';
REVOKE ALL ON FUNCTION finshard.set_house_limit(text, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.set_house_limit(text, numeric) TO finshard_admin;
