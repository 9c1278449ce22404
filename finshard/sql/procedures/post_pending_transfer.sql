CREATE OR REPLACE FUNCTION finshard.post_pending_transfer(p_from_account_id bigint,
                                                          p_transfer_id bigint,
                                                          p_amount numeric DEFAULT NULL,
                                                          p_session text DEFAULT NULL,
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
    v_pending record;
    v_amount  numeric;
    v_move    record;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('post_pending_transfer');
    END IF;
    -- Who may do this, for whom: docs/roles.md.
    PERFORM finshard._authorize(p_session, p_from_account_id, 'sender');
    SELECT * INTO v_pending FROM finshard._claim_pending(p_from_account_id, p_transfer_id);
    IF v_pending.expired THEN
        PERFORM finshard.fail('FS041', format('transfer %s expired; expire_pending_transfers releases it', p_transfer_id));
    END IF;
    v_amount := coalesce(p_amount, v_pending.amount);
    PERFORM finshard._check_amount(v_amount, v_pending.currency);
    IF v_amount > v_pending.amount THEN
        PERFORM finshard.fail('FS042', format('cannot post %s of transfer %s: only %s is pending', v_amount, p_transfer_id, v_pending.amount));
    END IF;
    transfer_id := p_transfer_id;
    -- Move the posted amount and release the whole reservation in the same entry: a partial post
    -- returns the rest to the available balance.
    -- A query, not an expression (as in transfer): Citus keeps the remote leg in this transaction
    -- only when it sees a function running in its executor.
    SELECT m.* INTO v_move
      FROM finshard._move(p_from_account_id, v_pending.to_account_id, v_amount, p_transfer_id, NULL, v_pending.amount,
                          v_pending.currency, 'post_pending_transfer',
                          jsonb_build_object('transfer_id', p_transfer_id, 'amount', v_amount, 'pending', v_pending.amount)) m;
    from_balance := v_move.from_balance;
    to_balance := v_move.to_balance;
    to_amount := v_move.to_amount;
    fx_rate := v_move.fx_rate;
    UPDATE finshard.transfers t
       SET status = 'success', posted_amount = v_amount, to_amount = v_move.to_amount, fx_rate = v_move.fx_rate,
           resolved_at = now()
     WHERE t.from_account_id = p_from_account_id AND t.transfer_id = p_transfer_id;
END
$$;
COMMENT ON FUNCTION finshard.post_pending_transfer(bigint, bigint, numeric, text) IS 'Second phase: moves p_amount (default: all) of a pending transfer and releases its reservation; a pending transfer resolves once. Raises FS001-FS004, FS010-FS013, FS018, FS040, FS041, FS042, FS080-FS085, FS021, FS088';
REVOKE ALL ON FUNCTION finshard.post_pending_transfer(bigint, bigint, numeric, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.post_pending_transfer(bigint, bigint, numeric, text) TO finshard_app, finshard_admin;
