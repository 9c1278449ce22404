CREATE OR REPLACE FUNCTION finshard._login_attempt(p_user_id bigint, p_login_hmac text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
BEGIN
    -- Counted in a transaction of its own and committed before anything is checked: a call that is
    -- cancelled, times out or is rolled back afterwards has been counted already.
    RETURN finshard._loopback(format('SELECT finshard._count_login_attempt(%s::bigint, %L)',
                                     coalesce(p_user_id::text, 'NULL'), p_login_hmac))::jsonb;
END
$$;
COMMENT ON FUNCTION finshard._login_attempt(bigint, text) IS 'Counts a login attempt in its own committed transaction (finshard._count_login_attempt over finshard._loopback); raises FS089 when it cannot';
REVOKE ALL ON FUNCTION finshard._login_attempt(bigint, text) FROM PUBLIC;
