-- The current password (and code, with MFA) became parameters: the old signature goes.
DROP FUNCTION IF EXISTS finshard.deactivate_user(bigint, text);
CREATE OR REPLACE FUNCTION finshard.deactivate_user(p_user_id bigint,
                                                    p_session text DEFAULT NULL,
                                                    p_current_password text DEFAULT NULL,
                                                    p_otp text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_caller bigint;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('deactivate_user');
    END IF;
    -- Who may do this, for whom: docs/roles.md. Users deactivate themselves (seed 002), with the
    -- current password (and a code, with MFA) counted as a login: a session left open, or stolen,
    -- must not be enough to shut the owner out.
    v_caller := finshard._authorize_user(p_session, p_user_id, 'self_or_admin');
    PERFORM finshard._not_null(p_user_id, 'p_user_id');
    PERFORM finshard._active_user(p_user_id);
    IF v_caller = p_user_id THEN
        PERFORM finshard._not_null(p_current_password, 'p_current_password');
        PERFORM finshard.authenticate((SELECT u.username FROM finshard.users u WHERE u.user_id = p_user_id),
                                      p_current_password, p_otp);
    END IF;
    UPDATE finshard.users SET is_active = false, updated_at = now() WHERE user_id = p_user_id;
    -- A deactivated user's sessions end now (each call also checks that the user is active), and
    -- the accounts say so to the payments that read them.
    UPDATE finshard.accounts SET owner_active = false WHERE user_id = p_user_id AND owner_active;
    UPDATE finshard.sessions SET revoked_at = now() WHERE user_id = p_user_id AND revoked_at IS NULL;
    PERFORM finshard._audit(0, 'deactivate_user', jsonb_build_object('user_id', p_user_id));
END
$$;
COMMENT ON FUNCTION finshard.deactivate_user(bigint, text, text, text) IS 'Deactivates a user (the user''s own session, with p_current_password and p_otp with MFA, or an admin''s): no more logins, sessions, new accounts, payments out or orders (existing accounts keep their money and may receive). Raises FS001, FS020, FS021, FS024, FS027-FS029, FS080-FS085, FS089';
REVOKE ALL ON FUNCTION finshard.deactivate_user(bigint, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.deactivate_user(bigint, text, text, text) TO finshard_app, finshard_admin;
