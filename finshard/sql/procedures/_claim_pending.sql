CREATE OR REPLACE FUNCTION finshard._claim_pending(p_from_account_id bigint, p_transfer_id bigint,
                                                   OUT to_account_id bigint, OUT amount numeric,
                                                   OUT currency text, OUT expired boolean)
LANGUAGE plpgsql
AS $$
DECLARE
    v_status text;
    v_expires timestamptz;
BEGIN
    PERFORM finshard._not_null(p_from_account_id, 'p_from_account_id');
    PERFORM finshard._not_null(p_transfer_id, 'p_transfer_id');
    -- Lock the transfer row: of two concurrent resolutions, the second sees the first's status.
    SELECT t.to_account_id, t.amount, t.currency, t.status, t.expires_at
      INTO to_account_id, amount, currency, v_status, v_expires
      FROM finshard.transfers t
     WHERE t.from_account_id = p_from_account_id AND t.transfer_id = p_transfer_id
       FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS040', format('no transfer %s from account %s', p_transfer_id, p_from_account_id));
    END IF;
    IF v_status <> 'pending' THEN
        PERFORM finshard.fail('FS041', format('transfer %s is %s, not pending', p_transfer_id, v_status));
    END IF;
    expired := v_expires <= now();
END
$$;
COMMENT ON FUNCTION finshard._claim_pending(bigint, bigint) IS 'Locks a pending transfer for resolution; raises FS040 (unknown) or FS041 (already resolved)';
REVOKE ALL ON FUNCTION finshard._claim_pending(bigint, bigint) FROM PUBLIC;
