CREATE OR REPLACE FUNCTION finshard._transfer_credit_local(p_account_id bigint, p_amount numeric, p_currency text,
                                                          p_transfer_id bigint, p_from_account_id bigint,
                                                          p_description text, p_notification_id bigint, p_send boolean,
                                                          OUT balance_after numeric, OUT user_id bigint)
LANGUAGE plpgsql
-- One plan per statement, cached: only finshard_local is named (no Citus table, no Citus plan leak).
SET plan_cache_mode = force_generic_plan
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_entry record;
    v_message text;
    v_payload jsonb;
BEGIN
    -- The credit leg of a cross-node transfer, on the destination's node: _transfer_cross calls it
    -- there through Citus (force_delegation), inside its transaction, as a write, so that Citus
    -- prepares this node's part with two-phase commit. The per-leg path's own rules (_post_entry,
    -- generated onto this node's shards), and its credited notification, stored here and queued
    -- unless the caller sends it (p_send). Returns NULLs, having written nothing, when the
    -- account's shard is not provably here and attached, or it holds another currency than
    -- p_currency: the caller then takes the per-leg path, which converts.
    IF to_regclass('finshard_local.accounts') IS NULL OR current_setting('transaction_isolation') <> 'read committed' THEN
        RETURN;
    END IF;
    -- Only inside the caller's distributed transaction (Citus gave it an id from the calling
    -- node): a call Citus sent on its own, outside one, would commit the credit by itself.
    IF NOT coalesce((SELECT t.transaction_number <> 0 AND t.initiator_node_identifier <> (SELECT g.groupid FROM pg_dist_local_group g)
                       FROM get_current_transaction_id() t), false) THEN
        RETURN;
    END IF;
    IF NOT finshard._local_proof(ARRAY[get_shard_id_for_distribution_column('finshard.accounts', p_account_id)]) THEN
        RETURN;
    END IF;
    v_entry := finshard._post_entry_local(p_account_id, p_amount, 'transfer_in', p_transfer_id, p_from_account_id,
                                          p_description, p_currency => p_currency);
    IF v_entry.balance_after IS NULL THEN
        RETURN;
    END IF;
    -- _move's credited notification: stored always (Citus' rule in _notify), queued unless sent.
    v_message := finshard._transfer_message(false, p_transfer_id, p_amount, p_currency, p_from_account_id);
    v_payload := jsonb_build_object('transfer_id', p_transfer_id, 'amount', p_amount, 'currency', p_currency);
    INSERT INTO finshard_local.notifications (account_id, notification_id, user_id, kind, message, payload, created_at)
    VALUES (p_account_id, p_notification_id, v_entry.user_id, 'credited', v_message, v_payload, now());
    IF NOT p_send THEN
        INSERT INTO finshard_local.notification_outbox (account_id, notification_id, user_id, kind, message, payload, created_at)
        VALUES (p_account_id, p_notification_id, v_entry.user_id, 'credited', v_message, v_payload, now());
    END IF;
    balance_after := v_entry.balance_after;
    user_id := v_entry.user_id;
END
$$;
COMMENT ON FUNCTION finshard._transfer_credit_local(bigint, numeric, text, bigint, bigint, text, bigint, boolean) IS 'On a Citus node, the credit leg of a cross-node transfer on its own shards, with the credited notification; NULLs (nothing done) when the shard is not provably here or the account holds another currency. Called by _transfer_cross only, through Citus';
REVOKE ALL ON FUNCTION finshard._transfer_credit_local(bigint, numeric, text, bigint, bigint, text, bigint, boolean) FROM PUBLIC;
