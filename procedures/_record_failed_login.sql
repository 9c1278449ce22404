CREATE OR REPLACE FUNCTION finshard._record_failed_login(p_user_id bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_sql text := format('UPDATE finshard.users SET failed_logins = failed_logins + 1, last_failed_login_at = now() WHERE user_id = %s', p_user_id);
BEGIN
    -- The rejection that follows rolls back this transaction, so the failure is recorded in a
    -- transaction of its own over a loopback dblink connection to this server, as the function's
    -- owner. Nothing a caller sets may change where it connects: a superuser connection to a host
    -- of the caller's choosing would be theirs. Where the server refuses that connection, a WARNING
    -- says the attempt went unrecorded; the login is rejected either way.
    -- The server's own Unix socket where it has one (its superuser is trusted there even where
    -- TCP takes only TLS and passwords), else its loopback address.
    PERFORM public.dblink_exec(
        format('host=%s port=%s dbname=%s user=%s',
               coalesce(nullif(trim(split_part(current_setting('unix_socket_directories'), ',', 1)), ''), '127.0.0.1'),
               current_setting('port'), quote_ident(current_database()), quote_ident(current_user)),
        v_sql);
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'finshard: failed login of user % not recorded: %', p_user_id, SQLERRM;
END
$$;
COMMENT ON FUNCTION finshard._record_failed_login(bigint) IS 'Counts a failed login in its own transaction (dblink loopback), so it survives the rejection';
REVOKE ALL ON FUNCTION finshard._record_failed_login(bigint) FROM PUBLIC;
