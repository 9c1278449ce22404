-- The three-argument form of earlier installs would make calls without p_otp ambiguous.
DROP FUNCTION IF EXISTS finshard.login(text, text, interval);
CREATE OR REPLACE FUNCTION finshard.login(p_login text, p_password text, p_ttl interval DEFAULT NULL, p_otp text DEFAULT NULL,
                                          OUT token text, OUT user_id bigint, OUT expires_at timestamptz)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_ttl interval;
BEGIN
    IF current_query() IS NULL THEN PERFORM finshard._refuse_call('login'); END IF;
    v_ttl := coalesce(p_ttl, (SELECT s.value::interval FROM finshard.settings s WHERE s.key = 'session_ttl'), interval '30 minutes');
    -- Compared as instants: interval comparison counts a month as 30 days, so '1 mon -29 days' or
    -- '10000 years -3599999 days' would pass a comparison of intervals. Checked before the password:
    -- a bad lifetime must not cost the user a counted attempt.
    expires_at := finshard._instant_after(v_ttl);
    IF expires_at IS NULL OR expires_at <= now() OR expires_at > now() + interval '1 day' THEN
        PERFORM finshard.fail('FS005', format('session lifetime %s must be more than 0 and at most 1 day', v_ttl));
    END IF;
    user_id := finshard.authenticate(p_login, p_password, p_otp);
    -- 256 random bits; only their sha256 is stored (sessions is a reference table on Citus: the
    -- insert reaches every node, so that any node checks the token locally).
    token := 'fss_' || encode(public.gen_random_bytes(32), 'hex');
    INSERT INTO finshard.sessions (token_hash, user_id, expires_at)
    VALUES (sha256(convert_to(token, 'UTF8')), user_id, expires_at);
    PERFORM finshard._user_audit(user_id, 'login', jsonb_build_object('expires_at', expires_at));
END
$$;
COMMENT ON FUNCTION finshard.login(text, text, interval, text) IS 'Logs an end user in (username or email, password, and for a user with MFA the one-time code p_otp): returns a session token to pass as p_session on every call made for that user, until it expires (setting session_ttl, or p_ttl up to 1 day) or is revoked (logout, revoke_sessions, a new password, deactivation). Raises FS001, FS005, FS024, FS027-FS029, FS089';
REVOKE ALL ON FUNCTION finshard.login(text, text, interval, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.login(text, text, interval, text) TO finshard_app;
