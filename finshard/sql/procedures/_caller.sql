CREATE OR REPLACE FUNCTION finshard._caller(p_session text, p_read boolean DEFAULT false,
                                            OUT user_id bigint, OUT is_admin boolean)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_role    text;
    v_session record;
BEGIN
    IF p_session IS NULL THEN
        -- A database role acting as itself: finshard_admin (superusers are members of every role),
        -- or finshard_readonly for reads. The role that called, not the function's owner.
        v_role := finshard._actor();
        IF pg_catalog.pg_has_role(v_role, 'finshard_admin', 'MEMBER')
           OR (p_read AND pg_catalog.pg_has_role(v_role, 'finshard_readonly', 'MEMBER')) THEN
            is_admin := true;
            PERFORM pg_catalog.set_config('finshard.on_behalf_of', '', true);
            RETURN;
        END IF;
        PERFORM finshard.fail('FS081', format('role %s must act for an end user: pass p_session', v_role));
    END IF;
    -- sessions and users are reference tables: this is a read on the node that runs the call.
    SELECT s.user_id, s.expires_at, s.revoked_at, u.is_active, u.role INTO v_session
      FROM finshard.sessions s
      JOIN finshard.users u ON u.user_id = s.user_id
     WHERE s.token_hash = pg_catalog.sha256(pg_catalog.convert_to(p_session, 'UTF8'));
    IF NOT FOUND THEN
        -- The token is not echoed: it may be someone's real token mistyped into a log.
        PERFORM finshard.fail('FS082', 'the session token is not valid');
    ELSIF v_session.revoked_at IS NOT NULL THEN
        PERFORM finshard.fail('FS084', format('the session of user %s was revoked at %s', v_session.user_id, v_session.revoked_at));
    ELSIF v_session.expires_at <= pg_catalog.now() THEN
        PERFORM finshard.fail('FS083', format('the session of user %s expired at %s', v_session.user_id, v_session.expires_at));
    ELSIF NOT v_session.is_active THEN
        PERFORM finshard.fail('FS084', format('user %s is deactivated: the session is revoked', v_session.user_id));
    END IF;
    user_id := v_session.user_id;
    is_admin := v_session.role = 'admin';
    -- Read by _audit: the audit chain records whom the call acted for.
    PERFORM pg_catalog.set_config('finshard.on_behalf_of', user_id::text, true);
END
$$;
COMMENT ON FUNCTION finshard._caller(text, boolean) IS 'Who a call acts for: the end user of session p_session (user_id, and whether an admin), or, without a session, a finshard_admin (or, with p_read, finshard_readonly) role acting as itself (user_id NULL). Raises FS081-FS084';
REVOKE ALL ON FUNCTION finshard._caller(text, boolean) FROM PUBLIC;
