CREATE OR REPLACE FUNCTION finshard._transfer_audit(p_transfer_id bigint, p_to_account_id bigint, p_amount numeric,
                                                    p_currency text, p_idempotency_key text)
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    -- One expression, so that PostgreSQL inlines it into the statement that calls it (STABLE, as
    -- jsonb_build_object is: a function declared stricter than its body is not inlined).
    SELECT jsonb_build_object('transfer_id', p_transfer_id, 'to', p_to_account_id, 'amount', p_amount,
                              'currency', p_currency, 'idempotency_key', p_idempotency_key)
$$;
COMMENT ON FUNCTION finshard._transfer_audit(bigint, bigint, numeric, text, text) IS 'The details of a transfer''s audit entry (hashed into the source account''s chain): one definition for both transfer paths';
REVOKE ALL ON FUNCTION finshard._transfer_audit(bigint, bigint, numeric, text, text) FROM PUBLIC;
