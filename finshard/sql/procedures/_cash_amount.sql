CREATE OR REPLACE FUNCTION finshard._cash_amount(p_quantity numeric, p_price numeric, p_minor_units smallint)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- Cash moved by a fill: quantity x price rounded half up to the currency's minor units. The
    -- caller passes the minor units it already read: on Citus every table read is a statement.
    SELECT round(p_quantity * p_price, p_minor_units);
$$;
COMMENT ON FUNCTION finshard._cash_amount(numeric, numeric, smallint) IS 'quantity x price in cash, rounded to p_minor_units decimals';
REVOKE ALL ON FUNCTION finshard._cash_amount(numeric, numeric, smallint) FROM PUBLIC;
