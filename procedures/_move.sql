CREATE OR REPLACE FUNCTION finshard._move(p_from_account_id bigint,
                                          p_to_account_id bigint,
                                          p_amount numeric,
                                          p_transfer_id bigint,
                                          p_description text,
                                          p_release numeric DEFAULT 0,
                                          p_from_currency text DEFAULT NULL,
                                          OUT from_balance numeric,
                                          OUT to_balance numeric,
                                          OUT to_amount numeric,
                                          OUT fx_rate numeric,
                                          OUT from_currency text,
                                          OUT to_currency text)
LANGUAGE plpgsql
AS $$
DECLARE
    v_leg        record;
    v_entry      record;
    v_from_user  bigint;
    v_to_user    bigint;
    v_send       boolean;
BEGIN
    -- Currencies never change, so they are read without locks; the legs lock.
    -- (IF, not coalesce(p, (SELECT ...)): Citus would run the subquery even when p is set.)
    from_currency := p_from_currency;
    IF from_currency IS NULL THEN
        SELECT a.currency INTO from_currency FROM finshard.accounts a WHERE a.account_id = p_from_account_id;
    END IF;
    SELECT a.currency INTO to_currency FROM finshard.accounts a WHERE a.account_id = p_to_account_id;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS010', format('account %s does not exist', p_to_account_id));
    END IF;
    to_amount := p_amount;
    IF from_currency <> to_currency THEN
        fx_rate := finshard.fx_rate(from_currency, to_currency);
        to_amount := round(p_amount * fx_rate, (SELECT c.minor_units FROM finshard.currencies c WHERE c.code = to_currency));
        IF to_amount <= 0 THEN
            PERFORM finshard.fail('FS002', format('%s %s converts to %s %s at %s: too small to transfer',
                                                  p_amount, from_currency, to_amount, to_currency, fx_rate));
        END IF;
    END IF;
    -- The legs, applied in account id order: two transfers always lock shared accounts in the same
    -- order, so they cannot deadlock, whichever shards or nodes the accounts live on.
    IF from_currency = to_currency THEN
        -- The common case, without a query to build the legs (each statement costs on Citus).
        IF p_from_account_id < p_to_account_id THEN
            v_entry := finshard._post_entry(p_from_account_id, -p_amount, 'transfer_out', p_transfer_id, p_to_account_id,
                                            p_description, p_release);
            from_balance := v_entry.balance_after;
            v_from_user := v_entry.user_id;
        END IF;
        v_entry := finshard._post_entry(p_to_account_id, to_amount, 'transfer_in', p_transfer_id, p_from_account_id, p_description);
        to_balance := v_entry.balance_after;
        v_to_user := v_entry.user_id;
        IF p_from_account_id > p_to_account_id THEN
            v_entry := finshard._post_entry(p_from_account_id, -p_amount, 'transfer_out', p_transfer_id, p_to_account_id,
                                            p_description, p_release);
            from_balance := v_entry.balance_after;
            v_from_user := v_entry.user_id;
        END IF;
    ELSE
        -- A cross-currency transfer pays into the house account of the source currency and out of the
        -- house account of the target currency, so each currency's total is unchanged.
        FOR v_leg IN
            SELECT l.account_id, l.amount, l.kind, l.counterparty, l.house, l.release
              FROM (VALUES (p_from_account_id, -p_amount, 'transfer_out', p_to_account_id, false, p_release),
                           (p_to_account_id, to_amount, 'transfer_in', p_from_account_id, false, 0::numeric)) AS l (account_id, amount, kind, counterparty, house, release)
            UNION ALL
            SELECT h.account_id, h.amount, h.kind, h.counterparty, true, 0
              FROM (SELECT (SELECT c.house_account_id FROM finshard.currencies c WHERE c.code = from_currency), p_amount, 'fx_in', p_from_account_id
                    UNION ALL
                    SELECT (SELECT c.house_account_id FROM finshard.currencies c WHERE c.code = to_currency), -to_amount, 'fx_out', p_to_account_id) AS h (account_id, amount, kind, counterparty)
             WHERE from_currency <> to_currency
             ORDER BY 1
        LOOP
            v_entry := finshard._post_entry(v_leg.account_id, v_leg.amount, v_leg.kind, p_transfer_id, v_leg.counterparty,
                                            p_description, v_leg.release, p_house => v_leg.house);
            IF v_leg.account_id = p_from_account_id THEN
                from_balance := v_entry.balance_after;
                v_from_user := v_entry.user_id;
            ELSIF v_leg.account_id = p_to_account_id THEN
                to_balance := v_entry.balance_after;
                v_to_user := v_entry.user_id;
            END IF;
        END LOOP;
    END IF;
    v_send := finshard._notify_now();
    PERFORM finshard._notify(p_from_account_id, v_from_user, 'transfer_success',
                             format('Transfer %s: %s %s sent to account %s', p_transfer_id, p_amount, from_currency, p_to_account_id),
                             jsonb_build_object('transfer_id', p_transfer_id, 'amount', p_amount, 'currency', from_currency,
                                                'balance', from_balance), v_send);
    PERFORM finshard._notify(p_to_account_id, v_to_user, 'credited',
                             format('Transfer %s: %s %s received from account %s', p_transfer_id, to_amount, to_currency, p_from_account_id),
                             jsonb_build_object('transfer_id', p_transfer_id, 'amount', to_amount, 'currency', to_currency), v_send);
END
$$;
COMMENT ON FUNCTION finshard._move(bigint, bigint, numeric, bigint, text, numeric, text) IS 'Moves p_amount between two accounts (converting through the house fx accounts), in account id lock order, with notifications';
REVOKE ALL ON FUNCTION finshard._move(bigint, bigint, numeric, bigint, text, numeric, text) FROM PUBLIC;
