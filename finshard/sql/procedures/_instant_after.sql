CREATE OR REPLACE FUNCTION finshard._instant_after(p_interval interval)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    -- now() + p_interval, or NULL where that is beyond what a timestamptz holds (a raw 22008 otherwise).
    RETURN now() + p_interval;
EXCEPTION WHEN datetime_field_overflow THEN
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION finshard._instant_after(interval) IS 'now() + p_interval, or NULL when that overflows timestamptz: lets a limit on an interval be checked as an instant';
REVOKE ALL ON FUNCTION finshard._instant_after(interval) FROM PUBLIC;
