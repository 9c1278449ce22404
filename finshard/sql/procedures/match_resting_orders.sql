CREATE OR REPLACE FUNCTION finshard.match_resting_orders(p_instrument_id bigint)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('match_resting_orders');
    END IF;
    RETURN finshard._match_resting_orders(p_instrument_id, false);
END
$$;
COMMENT ON FUNCTION finshard.match_resting_orders(bigint) IS 'Fills resting limit and triggered stop orders of an instrument that cross its latest quote, in price-time priority, up to the quote''s sizes; returns how many orders filled. update_quote does the same for the instruments it quotes. Raises FS001, FS050';
REVOKE ALL ON FUNCTION finshard.match_resting_orders(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.match_resting_orders(bigint) TO finshard_admin;
