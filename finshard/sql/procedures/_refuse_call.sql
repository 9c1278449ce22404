CREATE OR REPLACE FUNCTION finshard._refuse_fastpath(p_function text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    -- Every public PL/pgSQL function calls this first when current_query() is NULL, which is the
    -- protocol's fast-path function call (libpq's PQfn): the function then runs outside any query.
    -- Citus then sees no function around its statements and commits each remote write by itself,
    -- so an error later in the call would leave the earlier ones (a credit without its debit).
    -- Refused on one node too, so that a client behaves the same on both.
    PERFORM finshard.fail('FS097', format('finshard.%s was called through the fast-path function call, which runs no query',
                                          p_function));
END
$$;
COMMENT ON FUNCTION finshard._refuse_fastpath(text) IS 'Raises FS097 for a public function called through the protocol''s fast-path function call (current_query() is NULL there); called first by every public PL/pgSQL function';
REVOKE ALL ON FUNCTION finshard._refuse_fastpath(text) FROM PUBLIC;
