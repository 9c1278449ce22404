-- The side became an argument (rounding follows it): drop the old form first.
DROP FUNCTION IF EXISTS finshard._cash_amount(numeric, numeric, smallint);
CREATE OR REPLACE FUNCTION finshard._cash_amount(p_quantity numeric, p_price numeric, p_minor_units smallint, p_side text)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- Cash moved by a fill: quantity x price in the currency's minor units, rounded against the
    -- customer (a buy pays up, a sale gets down): rounded half up per fill, buying a sliver at a
    -- time cost 0.00 and selling it whole paid cents, money from nothing. The caller passes the
    -- minor units it already read: on Citus every table read is a statement.
    SELECT CASE p_side WHEN 'buy' THEN round(ceil(p_quantity * p_price * 10::numeric ^ p_minor_units) / 10::numeric ^ p_minor_units, p_minor_units)
                       ELSE trunc(p_quantity * p_price, p_minor_units) END;
$$;
COMMENT ON FUNCTION finshard._cash_amount(numeric, numeric, smallint, text) IS 'quantity x price in cash at p_minor_units decimals, rounded up for a buy and down for a sale';
REVOKE ALL ON FUNCTION finshard._cash_amount(numeric, numeric, smallint, text) FROM PUBLIC;
