CREATE OR REPLACE FUNCTION finshard._loopback(p_sql text)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_dir  text := pg_catalog.btrim(pg_catalog.split_part(pg_catalog.current_setting('unix_socket_directories'), ',', 1));
    v_conn text;
    v_out  text;
BEGIN
    -- A transaction of its own on this server, as the function's owner, so that what it writes
    -- survives the rejection that follows. Every part of the connection string comes from settings
    -- fixed at server start (port, socket directory) or from the function itself: nothing a caller
    -- sets can point it elsewhere. The Unix socket is the local superuser's way in (pg_hba.conf's
    -- local line, without a password); TCP only where the server has no socket. The options pin
    -- what the new session runs with, whatever the role's or database's defaults; a healthy loopback
    -- takes milliseconds, so it gives up well before a client would.
    v_conn := pg_catalog.format('host=%s port=%s dbname=%s user=%s application_name=finshard_loopback options=%s',
        finshard._conninfo_quote(CASE WHEN v_dir = '' THEN '127.0.0.1' ELSE v_dir END),
        pg_catalog.current_setting('port'),
        finshard._conninfo_quote(pg_catalog.current_database()),
        finshard._conninfo_quote(current_user::text),
        finshard._conninfo_quote('-c search_path=pg_catalog,pg_temp -c statement_timeout=10s -c lock_timeout=5s '
                                 '-c default_transaction_read_only=off'));
    SELECT t.v INTO v_out FROM public.dblink(v_conn, p_sql) AS t (v text);
    RETURN v_out;
EXCEPTION WHEN OTHERS OR query_canceled THEN
    -- Fail closed: a login whose attempt cannot be counted is not checked at all. A cancel is
    -- caught too: the loopback's own statement_timeout (a lock held elsewhere, which on Citus waits
    -- on a worker where lock_timeout does not reach) arrives as one.
    PERFORM finshard.fail('FS089', pg_catalog.format('the login attempt could not be recorded in its own transaction: %s', SQLERRM));
END
$$;
COMMENT ON FUNCTION finshard._loopback(text) IS 'Runs p_sql (one value out) in a transaction of its own, over a dblink connection to this server as the function''s owner; raises FS089 when it cannot';
REVOKE ALL ON FUNCTION finshard._loopback(text) FROM PUBLIC;
