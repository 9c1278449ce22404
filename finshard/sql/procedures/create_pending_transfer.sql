CREATE OR REPLACE FUNCTION finshard.create_pending_transfer(p_from_account_id bigint,
                                                            p_to_account_id bigint,
                                                            p_amount numeric,
                                                            p_timeout interval DEFAULT interval '1 day',
                                                            p_idempotency_key text DEFAULT NULL,
                                                            p_description text DEFAULT NULL,
                                                            p_session text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_currency    text;
    v_to_currency text;
    v_to          record;
    v_replay      jsonb;
    v_transfer_id bigint;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('create_pending_transfer');
    END IF;
    -- Who may do this, for whom: docs/roles.md.
    PERFORM finshard._authorize(p_session, p_from_account_id, 'sender');
    v_currency := (finshard._transfer_checks(p_from_account_id, p_to_account_id, p_amount, p_description)).currency;
    PERFORM finshard._not_null(p_timeout, 'p_timeout');
    -- Compared as instants: interval comparison counts a month as 30 days, so '1 mon -29 days' or
    -- '10000 years -3599999 days' would pass a comparison of intervals.
    IF finshard._instant_after(p_timeout) IS NULL OR finshard._instant_after(p_timeout) <= now()
       OR finshard._instant_after(p_timeout) > now() + interval '90 days' THEN
        PERFORM finshard.fail('FS005', format('p_timeout %s must be positive and at most 90 days', p_timeout));
    END IF;
    IF p_idempotency_key IS NOT NULL THEN
        v_replay := finshard._idempotency_begin(p_from_account_id, p_idempotency_key, 'pending_transfer',
                        jsonb_build_object('to', p_to_account_id, 'amount', p_amount, 'timeout', p_timeout::text,
                                           'description', p_description));
        IF v_replay IS NOT NULL THEN
            RETURN (v_replay ->> 'transfer_id')::bigint;
        END IF;
    END IF;
    -- The destination must be able to take the post later: a reservation it can never receive is refused now.
    SELECT a.currency, a.status, a.account_type INTO v_to FROM finshard.accounts a WHERE a.account_id = p_to_account_id;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS010', format('account %s does not exist', p_to_account_id));
    ELSIF v_to.account_type IN ('house', 'system') THEN
        PERFORM finshard.fail('FS019', format('account %s is a %s account', p_to_account_id, v_to.account_type));
    ELSIF v_to.status = 'closed' THEN
        PERFORM finshard.fail('FS011', format('account %s is closed', p_to_account_id));
    ELSIF v_to.status = 'frozen' THEN
        PERFORM finshard.fail('FS012', format('account %s is frozen', p_to_account_id));
    END IF;
    v_to_currency := v_to.currency;
    IF v_to_currency <> v_currency THEN
        -- As transfer does: across currencies only with a rate in force (FS018); post converts at its own.
        PERFORM finshard.fx_rate(v_currency, v_to_currency);
    END IF;
    -- Reserve: the money stays in the balance but is no longer available (TigerBeetle's pending).
    UPDATE finshard.accounts a SET reserved = a.reserved + p_amount, updated_at = now()
     WHERE a.account_id = p_from_account_id AND a.status = 'active' AND a.account_type NOT IN ('house', 'system')
       AND a.balance - a.reserved >= p_amount;
    IF NOT FOUND THEN
        -- Raises the reason, or returns with the row locked when a concurrent credit made it valid:
        -- then the reservation is applied under the lock (never skipped).
        PERFORM finshard._account_problem(p_from_account_id, -p_amount);
        UPDATE finshard.accounts a SET reserved = a.reserved + p_amount, updated_at = now()
         WHERE a.account_id = p_from_account_id;
    END IF;
    v_transfer_id := nextval('finshard.transfers_transfer_id_seq');
    INSERT INTO finshard.transfers (transfer_id, from_account_id, to_account_id, amount, currency, to_currency, status,
                                    expires_at, idempotency_key, description)
    VALUES (v_transfer_id, p_from_account_id, p_to_account_id, p_amount, v_currency, v_to_currency, 'pending',
            now() + p_timeout, p_idempotency_key, p_description);
    PERFORM finshard._audit(p_from_account_id, 'create_pending_transfer',
                            jsonb_build_object('transfer_id', v_transfer_id, 'to', p_to_account_id, 'amount', p_amount,
                                               'expires_at', now() + p_timeout));
    IF p_idempotency_key IS NOT NULL THEN
        PERFORM finshard._idempotency_finish(p_from_account_id, p_idempotency_key, jsonb_build_object('transfer_id', v_transfer_id));
    END IF;
    RETURN v_transfer_id;
END
$$;
COMMENT ON FUNCTION finshard.create_pending_transfer(bigint, bigint, numeric, interval, text, text, text) IS 'First phase of a two-phase transfer: reserves p_amount on the source account until post, void or expiry (p_timeout); returns transfer_id. Raises FS001-FS006, FS010-FS014, FS018 (no rate in force across currencies), FS019, FS030 (the destination too must exist and be an active customer account), FS080-FS085, FS021';
REVOKE ALL ON FUNCTION finshard.create_pending_transfer(bigint, bigint, numeric, interval, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.create_pending_transfer(bigint, bigint, numeric, interval, text, text, text) TO finshard_app, finshard_admin;
