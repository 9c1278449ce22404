CREATE OR REPLACE FUNCTION finshard._idempotency_begin(p_account_id bigint, p_key text, p_operation text, p_request jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    v_row finshard.idempotency_keys;
BEGIN
    PERFORM finshard._check_text(p_key, 'p_idempotency_key', 200);
    -- A blank key would be one every caller shares by mistake.
    IF btrim(p_key) = '' THEN
        PERFORM finshard.fail('FS005', 'p_idempotency_key must not be empty or blank; pass NULL for none');
    END IF;
    -- Claim the key. A concurrent claim of the same key waits here for the first to commit (then
    -- replays it) or roll back (then claims it): a request is applied once.
    INSERT INTO finshard.idempotency_keys (account_id, idempotency_key, operation, request)
    VALUES (p_account_id, p_key, p_operation, p_request)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO v_row FROM finshard.idempotency_keys k
     WHERE k.account_id = p_account_id AND k.idempotency_key = p_key;
    IF v_row.operation <> p_operation OR v_row.request <> p_request THEN
        PERFORM finshard.fail('FS030',
            format('idempotency key %s was used for %s %s; this request is %s %s',
                   p_key, v_row.operation, v_row.request, p_operation, p_request));
    END IF;
    RETURN v_row.result;
END
$$;
COMMENT ON FUNCTION finshard._idempotency_begin(bigint, text, text, jsonb) IS 'Claims idempotency key p_key for p_account_id: NULL when new, the stored result on a retry, FS030 when the key was used with other parameters, FS005 when it is blank';
REVOKE ALL ON FUNCTION finshard._idempotency_begin(bigint, text, text, jsonb) FROM PUBLIC;
