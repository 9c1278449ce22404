CREATE OR REPLACE FUNCTION finshard._audit(p_account_id bigint, p_action text, p_details jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_prev  text;
    v_seq   bigint;
    v_hash  text;
    v_at    timestamptz := clock_timestamp();
    v_actor text := finshard._audit_actor();
    -- Set by _caller for this transaction, from the session the call carried.
    v_for   bigint := nullif(current_setting('finshard.on_behalf_of', true), '')::bigint;
BEGIN
    -- The chain head lives on the account row (account 0 for system events): one UPDATE locks it,
    -- advances it and returns the link, so a chain never forks, even under concurrency.
    UPDATE finshard.accounts a
       SET audit_prev_hash = a.audit_hash,
           audit_seq = a.audit_seq + 1,
           audit_hash = finshard._audit_hash(finshard._key('audit'), a.audit_hash, a.account_id, a.audit_seq + 1, p_action,
                                             p_details, v_at, v_actor, v_for)
     WHERE a.account_id = p_account_id
    RETURNING a.audit_prev_hash, a.audit_seq, a.audit_hash INTO v_prev, v_seq, v_hash;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS010', format('account %s does not exist', p_account_id));
    END IF;
    INSERT INTO finshard.audit_log (account_id, audit_seq, action, details, created_at, prev_hash, hash, actor, on_behalf_of)
    VALUES (p_account_id, v_seq, p_action, p_details, v_at, v_prev, v_hash, v_actor, v_for);
END
$$;
COMMENT ON FUNCTION finshard._audit(bigint, text, jsonb) IS 'Appends an entry to account p_account_id''s audit hash chain (0: the system chain), with the calling role and the end user it acted for';
REVOKE ALL ON FUNCTION finshard._audit(bigint, text, jsonb) FROM PUBLIC;
