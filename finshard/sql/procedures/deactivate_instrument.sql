CREATE OR REPLACE FUNCTION finshard.deactivate_instrument(p_instrument_id bigint)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('deactivate_instrument');
    END IF;
    -- A role acting as itself, for no end user (and the audit entry says so).
    PERFORM finshard._caller(NULL);
    PERFORM finshard._instrument(p_instrument_id);
    UPDATE finshard.instruments SET is_active = false WHERE instrument_id = p_instrument_id;
    PERFORM finshard._audit(0, 'deactivate_instrument', jsonb_build_object('instrument_id', p_instrument_id));
END
$$;
COMMENT ON FUNCTION finshard.deactivate_instrument(bigint) IS 'Closes trading in an instrument (new orders are rejected with FS051; open orders stay until cancelled). Raises FS001, FS050, FS051';
REVOKE ALL ON FUNCTION finshard.deactivate_instrument(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.deactivate_instrument(bigint) TO finshard_admin;
