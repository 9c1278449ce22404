CREATE OR REPLACE FUNCTION finshard._user_audit_detached(p_user_id bigint, p_action text, p_details jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    -- For an entry about a call that is about to fail: written in a transaction of its own, which
    -- the rejection does not roll back, naming the caller (the loopback's session_user is the owner).
    PERFORM finshard._loopback(format('SELECT finshard._user_audit(%s, %L, %L::jsonb, %L)',
                                      p_user_id, p_action, p_details, finshard._audit_actor()));
END
$$;
COMMENT ON FUNCTION finshard._user_audit_detached(bigint, text, jsonb) IS 'Appends a user audit entry in a transaction of its own (finshard._loopback), so that it outlives the rejection that follows; raises FS089 when it cannot';
REVOKE ALL ON FUNCTION finshard._user_audit_detached(bigint, text, jsonb) FROM PUBLIC;
