CREATE OR REPLACE FUNCTION finshard.update_quotes(p_quotes jsonb)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_q     record;
    v_fills integer := 0;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('update_quotes');
    END IF;
    -- No end user: the audit entries this may write (fills, expiries) name none, whatever a caller SET.
    PERFORM pg_catalog.set_config('finshard.on_behalf_of', '', true);
    PERFORM finshard._not_null(p_quotes, 'p_quotes');
    IF jsonb_typeof(p_quotes) <> 'array' OR jsonb_array_length(p_quotes) > 10000 THEN
        PERFORM finshard.fail('FS005', 'p_quotes must be a JSON array of at most 10000 quotes');
    END IF;
    -- The shape first, so that jsonb_to_recordset never fails with a raw 22023/22P02/22003: every
    -- element an object, every field null, a number or a string of one (as a cast would read it),
    -- the instrument id a whole number within bigint.
    SELECT x.n, x.e INTO v_q
      FROM jsonb_array_elements(p_quotes) WITH ORDINALITY AS x (e, n)
     WHERE jsonb_typeof(x.e) <> 'object'
        OR EXISTS (SELECT 1 FROM jsonb_each(x.e) f
                    WHERE f.key IN ('bid_price', 'bid_size', 'ask_price', 'ask_size')
                      AND NOT (jsonb_typeof(f.value) IN ('number', 'null')
                               OR (jsonb_typeof(f.value) = 'string'
                                   AND f.value #>> '{}' ~* '^\s*([+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d{1,3})?|nan|[+-]?infinity)\s*$')))
        OR CASE jsonb_typeof(x.e -> 'instrument_id')
                WHEN 'number' THEN (x.e ->> 'instrument_id')::numeric <> trunc((x.e ->> 'instrument_id')::numeric)
                                   OR abs((x.e ->> 'instrument_id')::numeric) > 999999999999999999
                WHEN 'string' THEN x.e ->> 'instrument_id' !~ '^\s*[+-]?\d{1,18}\s*$'
                WHEN 'null' THEN false
                ELSE x.e ? 'instrument_id' END
     ORDER BY x.n LIMIT 1;
    IF FOUND THEN
        PERFORM finshard.fail('FS005', format('quote %s of p_quotes, %s, is not an object of numbers (instrument_id a bigint)',
                                              v_q.n, left(v_q.e::text, 200)));
    END IF;
    -- Validate every quote first: one bad quote rejects the batch and changes nothing.
    FOR v_q IN SELECT * FROM jsonb_to_recordset(p_quotes)
                      AS q (instrument_id bigint, bid_price numeric, bid_size numeric, ask_price numeric, ask_size numeric)
    LOOP
        PERFORM finshard._not_null(v_q.instrument_id, 'instrument_id');
        PERFORM finshard._check_quote(v_q.instrument_id, v_q.bid_price, v_q.bid_size, v_q.ask_price, v_q.ask_size);
    END LOOP;
    -- The latest quotes are a reference table, replicated to every node: one UPDATE for the whole
    -- batch costs one round of writes instead of one per instrument.
    UPDATE finshard.instruments i
       SET bid_price = q.bid_price, bid_size = q.bid_size, ask_price = q.ask_price, ask_size = q.ask_size, quoted_at = now()
      FROM (SELECT DISTINCT ON (x.instrument_id) x.* FROM jsonb_to_recordset(p_quotes)
                   AS x (instrument_id bigint, bid_price numeric, bid_size numeric, ask_price numeric, ask_size numeric)
             ORDER BY x.instrument_id) q
     WHERE i.instrument_id = q.instrument_id;
    INSERT INTO finshard.quotes (instrument_id, bid_price, bid_size, ask_price, ask_size)
    SELECT x.instrument_id, x.bid_price, x.bid_size, x.ask_price, x.ask_size
      FROM jsonb_to_recordset(p_quotes) AS x (instrument_id bigint, bid_price numeric, bid_size numeric, ask_price numeric, ask_size numeric);
    FOR v_q IN SELECT DISTINCT (e ->> 'instrument_id')::bigint AS instrument_id FROM jsonb_array_elements(p_quotes) e LOOP
        PERFORM finshard._fire_price_alerts(v_q.instrument_id);
        v_fills := v_fills + finshard._match_resting_orders(v_q.instrument_id, true);
    END LOOP;
    RETURN v_fills;
END
$$;
COMMENT ON FUNCTION finshard.update_quotes(jsonb) IS 'Batch form of update_quote: p_quotes is [{"instrument_id":..,"bid_price":..,"bid_size":..,"ask_price":..,"ask_size":..}, ...]; all or nothing; returns orders filled. Raises FS001, FS005, FS050, FS051, FS053';
REVOKE ALL ON FUNCTION finshard.update_quotes(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.update_quotes(jsonb) TO finshard_market;
