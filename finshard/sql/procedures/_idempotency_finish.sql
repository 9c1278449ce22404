CREATE OR REPLACE FUNCTION finshard._idempotency_finish(p_account_id bigint, p_key text, p_result jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE finshard.idempotency_keys k SET result = p_result
     WHERE k.account_id = p_account_id AND k.idempotency_key = p_key;
END
$$;
COMMENT ON FUNCTION finshard._idempotency_finish(bigint, text, jsonb) IS 'Stores the result a retry of key p_key returns';
REVOKE ALL ON FUNCTION finshard._idempotency_finish(bigint, text, jsonb) FROM PUBLIC;
