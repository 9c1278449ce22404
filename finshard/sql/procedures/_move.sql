CREATE OR REPLACE FUNCTION finshard._move(p_from_account_id bigint,
                                          p_to_account_id bigint,
                                          p_amount numeric,
                                          p_transfer_id bigint,
                                          p_description text,
                                          p_release numeric DEFAULT 0,
                                          p_from_currency text DEFAULT NULL,
                                          p_audit_action text DEFAULT NULL,
                                          p_audit_details jsonb DEFAULT NULL,
                                          p_notify_delivery text DEFAULT NULL,
                                          OUT from_balance numeric,
                                          OUT to_balance numeric,
                                          OUT to_amount numeric,
                                          OUT fx_rate numeric,
                                          OUT from_currency text,
                                          OUT to_currency text)
LANGUAGE plpgsql
AS $$
DECLARE
    v_debit  record;
    v_credit record;
    v_house  record;
    v_leg    record;
    v_send   boolean;
    v_ids    bigint[];
    v_msgs   text[];
    v_loads  jsonb[];
BEGIN
    v_send := finshard._notify_now(p_notify_delivery);
    from_currency := p_from_currency;
    IF from_currency IS NULL THEN
        SELECT a.currency INTO from_currency FROM finshard.accounts a WHERE a.account_id = p_from_account_id;
    END IF;
    -- Lock order, the same for every movement whichever shards or nodes the accounts live on, so
    -- that two movements cannot deadlock: the two customer accounts in id order, then the house fx
    -- accounts in id order.
    -- The debit carries the audit entry in the same row version. The credit does not read the
    -- destination's currency first (on Citus, when it lives on another node, each statement is a
    -- round trip): it converts only when its guarded UPDATE finds another currency.
    IF p_from_account_id < p_to_account_id THEN
        v_debit := finshard._post_entry(p_from_account_id, -p_amount, 'transfer_out', p_transfer_id, p_to_account_id,
                                        p_description, p_release, p_audit_action => p_audit_action,
                                        p_audit_details => p_audit_details);
    END IF;
    v_credit := finshard._credit_leg(p_to_account_id, p_amount, from_currency, 'transfer_in', p_transfer_id, p_from_account_id,
                                     p_description);
    IF p_from_account_id > p_to_account_id THEN
        v_debit := finshard._post_entry(p_from_account_id, -p_amount, 'transfer_out', p_transfer_id, p_to_account_id,
                                        p_description, p_release, p_audit_action => p_audit_action,
                                        p_audit_details => p_audit_details);
    END IF;
    from_balance := v_debit.balance_after;
    to_balance := v_credit.balance_after;
    to_amount := v_credit.amount;
    to_currency := v_credit.currency;
    fx_rate := v_credit.fx_rate;
    IF to_currency <> from_currency THEN
        -- Across currencies the house account of the source currency takes the amount and the house
        -- account of the target currency pays the converted amount: each currency's total is unchanged.
        FOR v_house IN
            SELECT h.account_id, h.amount, h.kind, h.counterparty
              FROM (SELECT (SELECT c.house_account_id FROM finshard.currencies c WHERE c.code = from_currency), p_amount, 'fx_in', p_from_account_id
                    UNION ALL
                    SELECT (SELECT c.house_account_id FROM finshard.currencies c WHERE c.code = to_currency), -to_amount, 'fx_out', p_to_account_id)
                   AS h (account_id, amount, kind, counterparty)
             ORDER BY h.account_id
        LOOP
            v_leg := finshard._credit_leg(v_house.account_id, v_house.amount, NULL, v_house.kind, p_transfer_id,
                                          v_house.counterparty, p_description, true);
            -- The paying house account has a limit: a wrong rate cannot mint money without bound.
            IF v_house.kind = 'fx_out' THEN
                PERFORM finshard._check_house_limit(to_currency, v_leg.balance_after);
            END IF;
        END LOOP;
    END IF;
    -- Both customers' notifications in one INSERT (a statement fewer; on Citus one task per shard).
    -- Their ids are drawn first, so that no RETURNING is needed to signal them.
    v_ids := ARRAY[nextval('finshard.notifications_notification_id_seq'), nextval('finshard.notifications_notification_id_seq')];
    v_msgs := ARRAY[finshard._transfer_message(true, p_transfer_id, p_amount, from_currency, p_to_account_id),
                    finshard._transfer_message(false, p_transfer_id, to_amount, to_currency, p_from_account_id)];
    v_loads := ARRAY[jsonb_build_object('transfer_id', p_transfer_id, 'amount', p_amount, 'currency', from_currency,
                                        'balance', from_balance),
                     jsonb_build_object('transfer_id', p_transfer_id, 'amount', to_amount, 'currency', to_currency)];
    -- Stored now when sent now, and always on Citus (as in _notify).
    IF v_send OR current_setting('citus.version', true) IS NOT NULL THEN
        INSERT INTO finshard.notifications (account_id, notification_id, user_id, kind, message, payload, created_at)
        VALUES (p_from_account_id, v_ids[1], v_debit.user_id, 'transfer_success', v_msgs[1], v_loads[1], now()),
               (p_to_account_id, v_ids[2], v_credit.user_id, 'credited', v_msgs[2], v_loads[2], now());
    END IF;
    IF v_send THEN
        PERFORM finshard._signal(v_ids[1], p_from_account_id, v_debit.user_id, 'transfer_success');
        PERFORM finshard._signal(v_ids[2], p_to_account_id, v_credit.user_id, 'credited');
    ELSE
        -- Queued whole: dispatch_notifications() sends them, and stores them unless stored already.
        INSERT INTO finshard.notification_outbox (account_id, notification_id, user_id, kind, message, payload, created_at)
        VALUES (p_from_account_id, v_ids[1], v_debit.user_id, 'transfer_success', v_msgs[1], v_loads[1], now()),
               (p_to_account_id, v_ids[2], v_credit.user_id, 'credited', v_msgs[2], v_loads[2], now());
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._move(bigint, bigint, numeric, bigint, text, numeric, text, text, jsonb, text) IS 'Moves p_amount between two accounts (converting through the house fx accounts) in a fixed lock order, with both customers'' notifications (p_notify_delivery: the setting when the caller read it) and, with p_audit_action, the source account''s audit entry';
REVOKE ALL ON FUNCTION finshard._move(bigint, bigint, numeric, bigint, text, numeric, text, text, jsonb, text) FROM PUBLIC;
