CREATE OR REPLACE FUNCTION finshard._refuse_call(p_function text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    -- Called first by every public PL/pgSQL function when current_query() is NULL, and by every
    -- one that writes when its transaction is read-only or not READ COMMITTED: each raises its
    -- reason before anything is written.
    IF current_query() IS NULL THEN
        -- The protocol's fast-path function call (libpq's PQfn): the function runs outside any
        -- query. Citus then sees no function around its statements and commits each remote write
        -- by itself, so an error later in the call would leave the earlier ones (a credit without
        -- its debit). Refused on one node too, so that a client behaves the same on both.
        PERFORM finshard.fail('FS097', format('finshard.%s was called through the fast-path function call, which runs no query',
                                              p_function));
    ELSIF current_setting('transaction_read_only') = 'on' THEN
        PERFORM finshard.fail('FS098', format('finshard.%s writes, and this transaction is read-only (%s)', p_function,
                                              CASE WHEN pg_catalog.pg_is_in_recovery() THEN 'this node is a standby'
                                                   ELSE 'SET TRANSACTION READ ONLY or default_transaction_read_only' END));
    ELSIF current_setting('transaction_isolation') <> 'read committed' THEN
        -- Each movement locks its rows, then checks what the lock let through: at a snapshot taken
        -- before the lock, a concurrent change would end the call in a serialization failure.
        PERFORM finshard.fail('FS099', format('finshard.%s writes at READ COMMITTED; this transaction is %s',
                                              p_function, upper(current_setting('transaction_isolation'))));
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._refuse_call(text) IS 'Raises FS097 for a public function called through the protocol''s fast-path function call (current_query() is NULL there), FS098 for a write in a read-only transaction, FS099 for a write at another isolation than READ COMMITTED; called first by every public PL/pgSQL function';
REVOKE ALL ON FUNCTION finshard._refuse_call(text) FROM PUBLIC;
