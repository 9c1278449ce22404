CREATE OR REPLACE FUNCTION finshard._audit(p_account_id bigint, p_action text, p_details jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_prev text;
    v_seq  bigint;
    v_at   timestamptz := clock_timestamp();
BEGIN
    -- The chain head lives on the account row (account 0 for system events): appending locks it,
    -- so a chain never forks, and the row is already locked by the movement being audited.
    SELECT a.audit_hash, a.audit_seq + 1 INTO v_prev, v_seq
      FROM finshard.accounts a WHERE a.account_id = p_account_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS010', format('account %s does not exist', p_account_id));
    END IF;
    UPDATE finshard.accounts
       SET audit_seq = v_seq,
           audit_hash = finshard._audit_hash(v_prev, p_account_id, v_seq, p_action, p_details, v_at)
     WHERE account_id = p_account_id;
    INSERT INTO finshard.audit_log (account_id, audit_seq, action, details, created_at, prev_hash, hash)
    VALUES (p_account_id, v_seq, p_action, p_details, v_at, v_prev,
            finshard._audit_hash(v_prev, p_account_id, v_seq, p_action, p_details, v_at));
END
$$;
COMMENT ON FUNCTION finshard._audit(bigint, text, jsonb) IS 'Appends an entry to account p_account_id''s audit hash chain (0: the system chain)';
REVOKE ALL ON FUNCTION finshard._audit(bigint, text, jsonb) FROM PUBLIC;
