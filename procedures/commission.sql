CREATE OR REPLACE FUNCTION finshard.commission(p_notional numeric, p_currency text)
RETURNS numeric
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT finshard._fee(p_notional, coalesce((SELECT c.minor_units FROM finshard.currencies c WHERE c.code = p_currency), 2::smallint));
$$;
COMMENT ON FUNCTION finshard.commission(numeric, text) IS 'Fee schedule: commission on a fill of notional p_notional in p_currency = 0.10% rounded to the currency''s minor units, no minimum';
REVOKE ALL ON FUNCTION finshard.commission(numeric, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.commission(numeric, text) TO finshard_app, finshard_admin, finshard_readonly;
