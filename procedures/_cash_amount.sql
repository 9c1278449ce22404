CREATE OR REPLACE FUNCTION finshard._cash_amount(p_quantity numeric, p_price numeric, p_currency text)
RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    -- Cash moved by a fill: quantity x price rounded half up to the currency's minor units.
    SELECT round(p_quantity * p_price, coalesce((SELECT c.minor_units FROM finshard.currencies c WHERE c.code = p_currency), 2));
$$;
COMMENT ON FUNCTION finshard._cash_amount(numeric, numeric, text) IS 'quantity x price in cash, rounded to the currency''s minor units';
REVOKE ALL ON FUNCTION finshard._cash_amount(numeric, numeric, text) FROM PUBLIC;
