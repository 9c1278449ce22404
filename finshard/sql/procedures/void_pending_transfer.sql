CREATE OR REPLACE FUNCTION finshard.void_pending_transfer(p_from_account_id bigint, p_transfer_id bigint,
                                                          p_status text DEFAULT 'voided',
                                                          p_session text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_pending record;
    v_user_id bigint;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('void_pending_transfer');
    END IF;
    -- Who may do this, for whom: docs/roles.md.
    PERFORM finshard._authorize(p_session, p_from_account_id, 'owner');
    IF p_status IS NULL OR p_status NOT IN ('voided', 'expired') THEN
        PERFORM finshard.fail('FS005', format('p_status %L is not voided or expired', p_status));
    END IF;
    SELECT * INTO v_pending FROM finshard._claim_pending(p_from_account_id, p_transfer_id);
    IF p_status = 'expired' AND NOT v_pending.expired THEN
        PERFORM finshard.fail('FS041', format('transfer %s has not expired yet', p_transfer_id));
    END IF;
    -- Release the reservation; frozen or closed accounts still get their money back.
    UPDATE finshard.accounts a SET reserved = a.reserved - v_pending.amount, updated_at = now()
     WHERE a.account_id = p_from_account_id
    RETURNING a.user_id INTO v_user_id;
    UPDATE finshard.transfers t SET status = p_status, resolved_at = now()
     WHERE t.from_account_id = p_from_account_id AND t.transfer_id = p_transfer_id;
    PERFORM finshard._notify(p_from_account_id, v_user_id, 'transfer_failed',
                             format('Transfer %s of %s %s was %s; the money is available again', p_transfer_id,
                                    v_pending.amount, v_pending.currency, p_status),
                             jsonb_build_object('transfer_id', p_transfer_id, 'amount', v_pending.amount, 'status', p_status));
    PERFORM finshard._audit(p_from_account_id, 'void_pending_transfer',
                            jsonb_build_object('transfer_id', p_transfer_id, 'status', p_status, 'amount', v_pending.amount));
END
$$;
COMMENT ON FUNCTION finshard.void_pending_transfer(bigint, bigint, text, text) IS 'Cancels a pending transfer (p_status voided, or expired once past its timeout) and releases its reservation. Raises FS001, FS005, FS040, FS041, FS080-FS085, FS010';
REVOKE ALL ON FUNCTION finshard.void_pending_transfer(bigint, bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.void_pending_transfer(bigint, bigint, text, text) TO finshard_app, finshard_admin;
