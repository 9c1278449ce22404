CREATE OR REPLACE FUNCTION finshard._cash_movement(p_account_id bigint, p_amount numeric, p_type text,
                                                   p_idempotency_key text, p_description text,
                                                   p_session text DEFAULT NULL,
                                                   OUT transaction_id bigint, OUT balance numeric)
LANGUAGE plpgsql
AS $$
DECLARE
    v_currency text;
    v_replay   jsonb;
    v_entry    record;
BEGIN
    -- deposit and withdraw are SQL functions: the guard of the public PL/pgSQL writers is here.
    IF current_setting('transaction_read_only') = 'on' OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call(p_type);
    END IF;
    -- Who may do this, for whom: docs/roles.md (the owner's session, or finshard_admin).
    PERFORM finshard._authorize(p_session, p_account_id, CASE p_type WHEN 'withdraw' THEN 'sender' ELSE 'owner' END);
    PERFORM finshard._not_null(p_account_id, 'p_account_id');
    PERFORM finshard._not_null(p_amount, 'p_amount');
    PERFORM finshard._check_text(p_description, 'p_description', 500);
    -- The account's currency decides how many decimals the amount may have.
    SELECT a.currency INTO v_currency FROM finshard.accounts a WHERE a.account_id = p_account_id;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS010', format('account %s does not exist', p_account_id));
    END IF;
    PERFORM finshard._check_amount(p_amount, v_currency);
    IF p_idempotency_key IS NOT NULL THEN
        v_replay := finshard._idempotency_begin(p_account_id, p_idempotency_key, p_type,
                                                jsonb_build_object('amount', p_amount, 'description', p_description));
        IF v_replay IS NOT NULL THEN
            transaction_id := (v_replay ->> 'transaction_id')::bigint;
            balance := (v_replay ->> 'balance')::numeric;
            RETURN;
        END IF;
    END IF;
    v_entry := finshard._post_entry(p_account_id, CASE p_type WHEN 'deposit' THEN p_amount ELSE -p_amount END, p_type,
                                    p_description => p_description);
    transaction_id := v_entry.transaction_id;
    balance := v_entry.balance_after;
    PERFORM finshard._notify(p_account_id, v_entry.user_id,
                             CASE p_type WHEN 'deposit' THEN 'credited' ELSE 'debited' END,
                             format('%s %s %s %s account %s', CASE p_type WHEN 'deposit' THEN 'Credited' ELSE 'Debited' END,
                                    p_amount, v_currency, CASE p_type WHEN 'deposit' THEN 'to' ELSE 'from' END, p_account_id),
                             jsonb_build_object('amount', p_amount, 'currency', v_currency, 'balance', balance,
                                                'transaction_id', transaction_id));
    PERFORM finshard._audit(p_account_id, p_type, jsonb_build_object('amount', p_amount, 'transaction_id', transaction_id,
                                                                      'idempotency_key', p_idempotency_key));
    IF p_idempotency_key IS NOT NULL THEN
        PERFORM finshard._idempotency_finish(p_account_id, p_idempotency_key,
                                             jsonb_build_object('transaction_id', transaction_id, 'balance', balance));
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._cash_movement(bigint, numeric, text, text, text, text) IS 'deposit and withdraw: one ledger entry, notification and audit, idempotent by key';
REVOKE ALL ON FUNCTION finshard._cash_movement(bigint, numeric, text, text, text, text) FROM PUBLIC;
