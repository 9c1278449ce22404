CREATE OR REPLACE FUNCTION finshard._next_instant(p_clock timestamptz, p_last timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    -- timestamptz + interval is only STABLE (month and day steps depend on the time zone), and
    -- Citus refuses STABLE functions on columns in distributed UPDATEs; one microsecond does not
    -- depend on the time zone, so this is truly immutable. PL/pgSQL, not SQL: an SQL function that
    -- cannot be inlined is parsed again on every statement that calls it.
    RETURN greatest(p_clock, p_last + interval '1 microsecond');
END
$$;
COMMENT ON FUNCTION finshard._next_instant(timestamptz, timestamptz) IS 'The later of the clock and one microsecond after p_last: ledger times strictly increase per account';
REVOKE ALL ON FUNCTION finshard._next_instant(timestamptz, timestamptz) FROM PUBLIC;
