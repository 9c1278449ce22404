CREATE OR REPLACE FUNCTION finshard._login_attempt(p_user_id bigint, p_login_hmac text, p_success boolean)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
BEGIN
    -- Counted (or reset, on a success) in a transaction of its own, committed before authenticate
    -- answers: a call that is cancelled, times out or is rolled back afterwards has been counted
    -- already, and a success in a call that fails later (update_user's checks) still resets.
    RETURN finshard._loopback(format('SELECT finshard._count_login_attempt(%s::bigint, %L, %L)',
                                     coalesce(p_user_id::text, 'NULL'), p_login_hmac, p_success))::jsonb;
END
$$;
COMMENT ON FUNCTION finshard._login_attempt(bigint, text, boolean) IS 'Counts a login attempt (or resets the count on a success) in its own committed transaction (finshard._count_login_attempt over finshard._loopback); raises FS089 when it cannot';
REVOKE ALL ON FUNCTION finshard._login_attempt(bigint, text, boolean) FROM PUBLIC;
