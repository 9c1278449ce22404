CREATE OR REPLACE FUNCTION finshard._user_audit(p_user_id bigint, p_action text, p_details jsonb, p_actor text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_prev  text;
    v_seq   bigint;
    v_hash  text;
    v_at    timestamptz := clock_timestamp();
    -- Given when written over the loopback, where session_user is the owner, not the caller.
    v_actor text := coalesce(p_actor, finshard._audit_actor());
BEGIN
    -- The head lives on the user's row: one UPDATE locks, advances and names the link, so a chain
    -- never forks. Values computed first: Citus refuses volatile functions in a reference-table write.
    UPDATE finshard.users u
       SET audit_prev_hash = u.audit_hash,
           audit_seq = u.audit_seq + 1,
           audit_hash = finshard._user_audit_hash(finshard._key('audit'), u.audit_hash, u.user_id, u.audit_seq + 1,
                                                  p_action, p_details, v_at, v_actor)
     WHERE u.user_id = p_user_id
    RETURNING u.audit_prev_hash, u.audit_seq, u.audit_hash INTO v_prev, v_seq, v_hash;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS020', format('user %s does not exist', p_user_id));
    END IF;
    INSERT INTO finshard.user_audit_log (user_id, audit_seq, actor, action, details, created_at, prev_hash, hash)
    VALUES (p_user_id, v_seq, v_actor, p_action, p_details, v_at, v_prev, v_hash);
END
$$;
COMMENT ON FUNCTION finshard._user_audit(bigint, text, jsonb, text) IS 'Appends an entry to user p_user_id''s login audit chain (0: unknown logins), naming the calling role (or p_actor)';
REVOKE ALL ON FUNCTION finshard._user_audit(bigint, text, jsonb, text) FROM PUBLIC;
