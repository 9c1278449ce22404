CREATE OR REPLACE FUNCTION finshard.new_users_per_day(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (day date, users bigint)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM finshard._check_period(p_from, p_to);
    RETURN QUERY
        SELECT (u.created_at AT TIME ZONE 'UTC')::date, count(*)
          FROM finshard.users u
         WHERE u.created_at >= p_from AND u.created_at < p_to AND u.role <> 'system'
         GROUP BY 1 ORDER BY 1;
END
$$;
COMMENT ON FUNCTION finshard.new_users_per_day(timestamptz, timestamptz) IS 'Admin report: registrations per UTC day over [p_from, p_to). Raises FS001, FS070';
REVOKE ALL ON FUNCTION finshard.new_users_per_day(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.new_users_per_day(timestamptz, timestamptz) TO finshard_admin, finshard_readonly;
