CREATE OR REPLACE FUNCTION finshard._check_house_limit(p_currency text, p_balance numeric)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_limit numeric;
BEGIN
    v_limit := coalesce((SELECT c.house_limit FROM finshard.currencies c WHERE c.code = p_currency),
                        (SELECT s.value::numeric FROM finshard.settings s WHERE s.key = 'house_limit_default'));
    IF p_balance < -v_limit THEN
        PERFORM finshard.fail('FS088', format('the conversion would take the %s house fx account to %s, beyond its limit of -%s',
                                              p_currency, p_balance, v_limit));
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._check_house_limit(text, numeric) IS 'Raises FS088 when a house fx account''s balance p_balance is below minus its limit (currencies.house_limit, else the house_limit_default setting)';
REVOKE ALL ON FUNCTION finshard._check_house_limit(text, numeric) FROM PUBLIC;
