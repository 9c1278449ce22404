CREATE OR REPLACE FUNCTION finshard._fee(p_notional numeric, p_minor_units smallint)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- The fee schedule, in one place: 10 basis points of the notional, rounded half up to the
    -- currency's minor units, no minimum; so a sale's proceeds always cover its fee.
    SELECT round(p_notional * 0.0010, p_minor_units);
$$;
COMMENT ON FUNCTION finshard._fee(numeric, smallint) IS 'Commission on a fill of notional p_notional (0.10%, rounded to p_minor_units decimals); finshard.commission is its public form';
REVOKE ALL ON FUNCTION finshard._fee(numeric, smallint) FROM PUBLIC;
