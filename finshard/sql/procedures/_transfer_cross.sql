CREATE OR REPLACE FUNCTION finshard._transfer_cross(p_from_account_id bigint, p_to_account_id bigint, p_amount numeric,
                                                    p_idempotency_key text, p_description text, p_session text,
                                                    v_ids bigint[], transfer_id bigint,
                                                    OUT v_moved bigint, OUT from_balance numeric, OUT to_balance numeric)
LANGUAGE plpgsql
-- One plan per statement on this node's shards, cached (for it and the helpers it calls); its two
-- statements through Citus are dynamic, planned for their values each time: Citus 13.2 leaks
-- cached plans of those, and delegates a call only for a constant account.
SET plan_cache_mode = force_generic_plan
-- Citus delegates its call as a write, in this transaction, only inside a transaction block or a
-- function when this is on: a caller's SET must not turn it into a call that commits on its own.
SET citus.function_opens_transaction_block = on
AS $$
DECLARE
    v_there    bigint;
    v_checks   record;
    v_send     boolean;
    v_note     bigint := v_ids[2];
    v_credit   record;
    v_debit    record;
    v_message  text;
    v_payload  jsonb;
BEGIN
    -- A same-currency transfer whose source is on this Citus node and whose destination is on
    -- another, with one call to that node: the per-leg path's rules, each leg on its node's own
    -- shards (docs/citus-tax.md). The debit and its audit run here (_post_entry_local), the
    -- credit there (_transfer_credit_local), called through Citus as a write, in this
    -- transaction; the transfer record goes through Citus' local execution. Both make Citus commit
    -- the two nodes with two-phase commit. Returns NULLs, having written nothing, when this path
    -- does not apply; then transfer takes the per-leg path. A rule that fails raises its reason,
    -- as the per-leg path does, and the error undoes both legs.
    IF p_from_account_id IS NULL OR p_to_account_id IS NULL OR p_from_account_id = p_to_account_id
       -- Every stand-in it reads (a view appears with the next sync after an install).
       OR to_regclass('finshard_local.accounts') IS NULL OR to_regclass('finshard_local.sessions') IS NULL
       OR to_regclass('finshard_local.currencies') IS NULL OR to_regclass('finshard_local.settings') IS NULL
       OR current_setting('transaction_isolation') <> 'read committed'
       OR current_setting('citus.enable_local_execution') = 'off'
       -- A call Citus delegated here (transfer sent to the coordinator) may not push a call on.
       OR current_setting('application_name') LIKE 'citus\_internal%' THEN
        RETURN;
    END IF;
    -- The source's shard proven here (_local_proof), the destination's an active placement of
    -- another node (here but not attached yet: the per-leg path).
    v_there := get_shard_id_for_distribution_column('finshard.accounts', p_to_account_id);
    IF NOT finshard._local_proof(ARRAY[get_shard_id_for_distribution_column('finshard.accounts', p_from_account_id)])
       OR NOT EXISTS (SELECT 1 FROM pg_dist_placement d
                       WHERE d.shardid = v_there AND d.shardstate = 1
                         AND d.groupid <> (SELECT g.groupid FROM pg_dist_local_group g)) THEN
        RETURN;
    END IF;
    IF p_from_account_id < p_to_account_id THEN
        -- The lock order of every movement: the lower id first.
        PERFORM 1 FROM finshard_local.accounts a
          WHERE a.account_id = p_from_account_id AND hashint8(a.account_id) = hashint8(p_from_account_id)
          FOR UPDATE;
    END IF;
    -- The per-leg path's checks (who may send, the amount, the description), raising its reasons.
    v_checks := finshard._transfer_checks_local(p_from_account_id, p_to_account_id, p_amount, p_description, true, p_session);
    v_send := finshard._notify_now_local(v_checks.notify_delivery);
    -- The credit, on the destination's node. SELECT ... FROM: Citus delegates no call that
    -- PL/pgSQL evaluates as a simple expression.
    EXECUTE 'SELECT c.balance_after, c.user_id
               FROM finshard._transfer_credit_local($1, $2, $3, $4, $5, $6, $7, $8) c'
       INTO v_credit
      USING p_to_account_id, p_amount, v_checks.currency, transfer_id, p_from_account_id, p_description, v_note, v_send;
    IF v_credit.balance_after IS NULL THEN
        RETURN;  -- not there, or another currency: nothing was written
    END IF;
    -- The debit, with the audit entry (the caller is the actor; _transfer_checks set the end user).
    PERFORM pg_catalog.set_config('finshard.pass_actor', finshard._audit_actor(), true);
    v_debit := finshard._post_entry_local(p_from_account_id, -p_amount, 'transfer_out', transfer_id, p_to_account_id,
                                          p_description, p_audit_action => 'transfer',
                                          p_audit_details => finshard._transfer_audit(transfer_id, p_to_account_id, p_amount,
                                                                                      v_checks.currency, p_idempotency_key));
    v_message := finshard._transfer_message(true, transfer_id, p_amount, v_checks.currency, p_to_account_id);
    v_payload := jsonb_build_object('transfer_id', transfer_id, 'amount', p_amount, 'currency', v_checks.currency,
                                    'balance', v_debit.balance_after);
    INSERT INTO finshard_local.notifications (account_id, notification_id, user_id, kind, message, payload, created_at)
    VALUES (p_from_account_id, v_ids[1], v_debit.user_id, 'transfer_success', v_message, v_payload, now());
    IF v_send THEN
        PERFORM finshard._signal(v_ids[1], p_from_account_id, v_debit.user_id, 'transfer_success');
        PERFORM finshard._signal(v_note, p_to_account_id, v_credit.user_id, 'credited');
    ELSE
        INSERT INTO finshard_local.notification_outbox (account_id, notification_id, user_id, kind, message, payload, created_at)
        VALUES (p_from_account_id, v_ids[1], v_debit.user_id, 'transfer_success', v_message, v_payload, now());
    END IF;
    -- Through Citus, which executes it here: a write Citus runs locally is what makes it commit
    -- the credit's node with two-phase commit (a direct write to the shards is invisible to it).
    EXECUTE 'INSERT INTO finshard.transfers (transfer_id, from_account_id, to_account_id, amount, currency, to_amount,
                                             to_currency, status, idempotency_key, description, resolved_at)
             VALUES ($1, $2, $3, $4, $5, $4, $5, ''success'', $6, $7, now())'
      USING transfer_id, p_from_account_id, p_to_account_id, p_amount, v_checks.currency, p_idempotency_key, p_description;
    v_moved := 2;
    from_balance := v_debit.balance_after;
    to_balance := v_credit.balance_after;
END
$$;
COMMENT ON FUNCTION finshard._transfer_cross(bigint, bigint, numeric, text, text, text, bigint[], bigint) IS 'On a Citus node holding the source, a same-currency transfer to an account on another node: the debit on this node''s shards, the credit in one call to the other node (_transfer_credit_local), two-phase commit; NULLs (nothing done) when it does not apply. Called by transfer only';
REVOKE ALL ON FUNCTION finshard._transfer_cross(bigint, bigint, numeric, text, text, text, bigint[], bigint) FROM PUBLIC;
