-- A session token travels as a parameter, but Citus delegates a call to a worker as SQL text with
-- its arguments written in, and PostgreSQL logs a failing statement's text (log_min_error_statement
-- = error): every rejected call would leave a live token in that worker's log. In this database no
-- statement text is logged with its error (the error itself still is); Citus passes the setting
-- on to every node.
DO $logs$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET log_min_error_statement = panic', current_database());
END
$logs$;
