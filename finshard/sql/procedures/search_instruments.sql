CREATE OR REPLACE FUNCTION finshard.search_instruments(p_query text, p_after_symbol text DEFAULT NULL, p_limit integer DEFAULT 50)
RETURNS TABLE (instrument_id bigint, symbol text, name text, instrument_type text, exchange text, currency text,
               sector text, industry text, bid_price numeric, ask_price numeric, is_active boolean)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM finshard._not_null(p_query, 'p_query');
    PERFORM finshard._check_text(p_query, 'p_query', 100);
    PERFORM finshard._check_limit(p_limit, 500);
    -- Symbol or name prefix; keyset pagination: pass the last symbol seen as p_after_symbol.
    -- LIKE metacharacters in the query are matched literally.
    RETURN QUERY
        SELECT i.instrument_id, i.symbol, i.name, i.instrument_type, i.exchange, i.currency, i.sector, i.industry,
               i.bid_price, i.ask_price, i.is_active
          FROM finshard.instruments i
         WHERE (upper(i.symbol) LIKE replace(replace(replace(upper(p_query), '\', '\\'), '%', '\%'), '_', '\_') || '%'
                OR lower(i.name) LIKE replace(replace(replace(lower(p_query), '\', '\\'), '%', '\%'), '_', '\_') || '%')
           AND (p_after_symbol IS NULL OR i.symbol > upper(p_after_symbol))
         ORDER BY i.symbol
         LIMIT p_limit;
END
$$;
COMMENT ON FUNCTION finshard.search_instruments(text, text, integer) IS 'Instruments whose symbol or name starts with p_query, by symbol, p_limit at a time after p_after_symbol (keyset pagination). Raises FS001, FS005, FS006';
REVOKE ALL ON FUNCTION finshard.search_instruments(text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.search_instruments(text, text, integer) TO finshard_app, finshard_market, finshard_admin, finshard_readonly;
