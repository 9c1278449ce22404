CREATE OR REPLACE FUNCTION finshard.transfer(p_from_account_id bigint,
                                             p_to_account_id bigint,
                                             p_amount numeric,
                                             p_idempotency_key text DEFAULT NULL,
                                             p_description text DEFAULT NULL,
                                             OUT transfer_id bigint,
                                             OUT from_balance numeric,
                                             OUT to_balance numeric,
                                             OUT to_amount numeric,
                                             OUT fx_rate numeric)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_checks   record;
    v_currency text;
    v_replay   jsonb;
    v_move     record;
    v_one      record;
    v_applied  boolean := false;
BEGIN
    IF p_idempotency_key IS NOT NULL THEN
        v_checks := finshard._transfer_checks(p_from_account_id, p_to_account_id, p_amount, p_description);
        v_currency := v_checks.currency;
        v_replay := finshard._idempotency_begin(p_from_account_id, p_idempotency_key, 'transfer',
                        jsonb_build_object('to', p_to_account_id, 'amount', p_amount, 'description', p_description));
        IF v_replay IS NOT NULL THEN
            SELECT r.transfer_id, r.from_balance, r.to_balance, r.to_amount, r.fx_rate
              INTO transfer_id, from_balance, to_balance, to_amount, fx_rate
              FROM jsonb_to_record(v_replay) AS r (transfer_id bigint, from_balance numeric, to_balance numeric,
                                                   to_amount numeric, fx_rate numeric);
            RETURN;
        END IF;
    END IF;
    transfer_id := nextval('finshard.transfers_transfer_id_seq');
    -- On one node (no Citus) a same-currency transfer is one statement, its checks included; it
    -- writes nothing when a rule does not hold, and the checks and the per-leg path below then
    -- raise the reason or convert. SET finshard.one_statement_transfer = off sends every transfer
    -- down the per-leg path.
    IF current_setting('citus.version', true) IS NULL
       AND coalesce(current_setting('finshard.one_statement_transfer', true), '') <> 'off' THEN
        v_one := finshard._transfer_one_statement(p_from_account_id, p_to_account_id, p_amount, transfer_id,
                                                  p_description, p_idempotency_key);
        v_applied := v_one.applied;
    END IF;
    IF v_applied THEN
        from_balance := v_one.from_balance;
        to_balance := v_one.to_balance;
        to_amount := p_amount;
    ELSE
        IF v_currency IS NULL THEN
            v_checks := finshard._transfer_checks(p_from_account_id, p_to_account_id, p_amount, p_description);
            v_currency := v_checks.currency;
        END IF;
        -- Both legs in this one transaction: on Citus, when the accounts are on two nodes, the
        -- worker running this delegated call commits both with two-phase commit; either both land
        -- or neither. The audit entry rides on the debit (the conversion is in the transfer record).
        v_move := finshard._move(p_from_account_id, p_to_account_id, p_amount, transfer_id, p_description, 0, v_currency,
                                 'transfer', finshard._transfer_audit(transfer_id, p_to_account_id, p_amount, v_currency,
                                                                      p_idempotency_key),
                                 v_checks.notify_delivery);
        from_balance := v_move.from_balance;
        to_balance := v_move.to_balance;
        to_amount := v_move.to_amount;
        fx_rate := v_move.fx_rate;
        INSERT INTO finshard.transfers (transfer_id, from_account_id, to_account_id, amount, currency, to_amount, to_currency,
                                        fx_rate, status, idempotency_key, description, resolved_at)
        VALUES (transfer_id, p_from_account_id, p_to_account_id, p_amount, v_currency, to_amount, v_move.to_currency,
                fx_rate, 'success', p_idempotency_key, p_description, now());
    END IF;
    IF p_idempotency_key IS NOT NULL THEN
        PERFORM finshard._idempotency_finish(p_from_account_id, p_idempotency_key,
            jsonb_build_object('transfer_id', transfer_id, 'from_balance', from_balance, 'to_balance', to_balance,
                               'to_amount', to_amount, 'fx_rate', fx_rate));
    END IF;
END
$$;
COMMENT ON FUNCTION finshard.transfer(bigint, bigint, numeric, text, text) IS 'Moves p_amount (source currency) to another account atomically, converting at the fx rate in force when currencies differ; returns transfer_id, both new balances, the credited amount and the rate. Idempotent with p_idempotency_key (scoped to the source account). Raises FS001-FS006, FS010-FS014, FS017-FS019, FS030';
REVOKE ALL ON FUNCTION finshard.transfer(bigint, bigint, numeric, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.transfer(bigint, bigint, numeric, text, text) TO finshard_app;
