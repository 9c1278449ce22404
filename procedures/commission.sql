CREATE OR REPLACE FUNCTION finshard.commission(p_notional numeric, p_currency text)
RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    -- The fee schedule: 10 basis points of the notional, rounded half up to the currency's
    -- minor units, no minimum; so a sale's proceeds always cover its fee.
    SELECT round(p_notional * 0.0010, coalesce((SELECT c.minor_units FROM finshard.currencies c WHERE c.code = p_currency), 2));
$$;
COMMENT ON FUNCTION finshard.commission(numeric, text) IS 'Fee schedule: commission on a fill of notional p_notional = 0.10% rounded to the currency''s minor units, no minimum';
REVOKE ALL ON FUNCTION finshard.commission(numeric, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.commission(numeric, text) TO finshard_app, finshard_readonly;
