CREATE OR REPLACE FUNCTION finshard._idempotency_finish(p_account_id bigint, p_key text, p_result jsonb)
RETURNS void
LANGUAGE sql
AS $$
    UPDATE finshard.idempotency_keys SET result = p_result
     WHERE account_id = p_account_id AND idempotency_key = p_key;
$$;
COMMENT ON FUNCTION finshard._idempotency_finish(bigint, text, jsonb) IS 'Stores the result a retry of key p_key returns';
REVOKE ALL ON FUNCTION finshard._idempotency_finish(bigint, text, jsonb) FROM PUBLIC;
