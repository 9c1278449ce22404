CREATE OR REPLACE FUNCTION finshard.update_quote(p_instrument_id bigint, p_bid_price numeric, p_bid_size numeric,
                                                 p_ask_price numeric, p_ask_size numeric)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('update_quote');
    END IF;
    -- No end user: the audit entries this may write (fills, expiries) name none, whatever a caller SET.
    PERFORM pg_catalog.set_config('finshard.on_behalf_of', '', true);
    PERFORM finshard._not_null(p_instrument_id, 'p_instrument_id');
    RETURN finshard.update_quotes(jsonb_build_array(jsonb_build_object(
        'instrument_id', p_instrument_id, 'bid_price', p_bid_price, 'bid_size', p_bid_size,
        'ask_price', p_ask_price, 'ask_size', p_ask_size)));
END
$$;
COMMENT ON FUNCTION finshard.update_quote(bigint, numeric, numeric, numeric, numeric) IS 'Publishes an instrument''s quote (bid <= ask, positive sizes), keeps it in the quote history, fires price alerts and fills resting orders that now cross; returns orders filled. Raises FS001, FS050, FS051, FS053';
REVOKE ALL ON FUNCTION finshard.update_quote(bigint, numeric, numeric, numeric, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.update_quote(bigint, numeric, numeric, numeric, numeric) TO finshard_market;
