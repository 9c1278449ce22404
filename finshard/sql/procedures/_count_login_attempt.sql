CREATE OR REPLACE FUNCTION finshard._count_login_attempt(p_user_id bigint, p_login_hmac text, p_success boolean)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    v_max     integer := coalesce((SELECT s.value::integer FROM finshard.settings s WHERE s.key = 'login_max_failures'), 5);
    v_window  interval := coalesce((SELECT s.value::interval FROM finshard.settings s WHERE s.key = 'login_failure_window'), interval '15 minutes');
    v_lockout interval := coalesce((SELECT s.value::interval FROM finshard.settings s WHERE s.key = 'login_lockout'), interval '15 minutes');
    v_count   integer;
    v_start   timestamptz;
    v_prev    timestamptz;
    v_lock    timestamptz;
BEGIN
    -- Runs in the loopback transaction (finshard._loopback), before authenticate says anything:
    -- every attempt counts until a success resets the count, committed here either way, so that
    -- neither survives or vanishes with the caller's transaction. A user's count lives on the user;
    -- a login naming no user has its own row, so that it locks the same way.
    -- NO KEY: a caller's own foreign-key lock on the user (open_account, a session) must not block it.
    IF p_user_id IS NOT NULL THEN
        SELECT u.failed_logins, u.failed_window_start, u.locked_until INTO v_count, v_start, v_prev
          FROM finshard.users u WHERE u.user_id = p_user_id FOR NO KEY UPDATE;
    ELSE
        SELECT l.failed_logins, l.failed_window_start, l.locked_until INTO v_count, v_start, v_prev
          FROM finshard.unknown_logins l WHERE l.login_hmac = p_login_hmac FOR UPDATE;
    END IF;
    -- A lock that is over, or a window that is over, starts a new window with this attempt.
    IF v_prev <= pg_catalog.now() THEN
        v_prev := NULL;
        v_start := NULL;
    END IF;
    IF v_start IS NULL OR v_start <= pg_catalog.now() - v_window THEN
        v_count := 0;
        v_start := pg_catalog.now();
    END IF;
    IF p_success AND v_prev IS NULL AND p_user_id IS NOT NULL THEN
        -- A success resets the count; not while locked (authenticate refuses it then).
        UPDATE finshard.users
           SET failed_logins = 0, failed_window_start = NULL, locked_until = NULL
         WHERE user_id = p_user_id;
        RETURN pg_catalog.jsonb_build_object('attempts', 0, 'locked', false, 'locked_until', NULL);
    END IF;
    v_count := v_count + 1;
    -- The attempt that reaches the limit is still checked (a success unlocks); the next ones are not.
    v_lock := coalesce(v_prev, CASE WHEN v_count >= v_max THEN pg_catalog.now() + v_lockout END);
    IF p_user_id IS NOT NULL THEN
        UPDATE finshard.users
           SET failed_logins = v_count, failed_window_start = v_start, last_failed_login_at = pg_catalog.now(), locked_until = v_lock
         WHERE user_id = p_user_id;
    ELSE
        INSERT INTO finshard.unknown_logins AS l (login_hmac, failed_logins, failed_window_start, last_failed_login_at, locked_until)
        VALUES (p_login_hmac, v_count, v_start, pg_catalog.now(), v_lock)
        ON CONFLICT (login_hmac) DO UPDATE
           SET failed_logins = EXCLUDED.failed_logins, failed_window_start = EXCLUDED.failed_window_start,
               last_failed_login_at = EXCLUDED.last_failed_login_at, locked_until = EXCLUDED.locked_until;
        -- Rows whose window and lock are over say nothing any more.
        DELETE FROM finshard.unknown_logins l
         WHERE l.last_failed_login_at < pg_catalog.now() - GREATEST(v_window, v_lockout)
           AND (l.locked_until IS NULL OR l.locked_until < pg_catalog.now());
    END IF;
    RETURN pg_catalog.jsonb_build_object('attempts', v_count, 'locked', v_prev IS NOT NULL, 'locked_until', v_lock);
END
$$;
COMMENT ON FUNCTION finshard._count_login_attempt(bigint, text, boolean) IS 'Counts a failed login attempt on user p_user_id (or, when NULL, on the unknown login p_login_hmac) and locks it when the count reaches login_max_failures within login_failure_window, or resets the count on a success (p_success, unless locked); returns {attempts, locked (before this attempt), locked_until}. Run over the loopback, before authenticate answers';
REVOKE ALL ON FUNCTION finshard._count_login_attempt(bigint, text, boolean) FROM PUBLIC;
