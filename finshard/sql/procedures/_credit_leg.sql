CREATE OR REPLACE FUNCTION finshard._credit_leg(p_account_id bigint,
                                                p_amount numeric,
                                                p_currency text,
                                                p_type text,
                                                p_transfer_id bigint,
                                                p_counterparty_account_id bigint,
                                                p_description text,
                                                p_house boolean DEFAULT false,
                                                OUT balance_after numeric,
                                                OUT amount numeric,
                                                OUT currency text,
                                                OUT fx_rate numeric,
                                                OUT user_id bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    v_entry record;
BEGIN
    -- No read of the account's currency first: the entry is applied on the guess that it is
    -- p_currency (on Citus every statement to another node is a round trip); when it is not,
    -- nothing was applied and the converted amount is posted instead.
    amount := p_amount;
    v_entry := finshard._post_entry(p_account_id, p_amount, p_type, p_transfer_id, p_counterparty_account_id, p_description,
                                    p_house => p_house, p_currency => p_currency);
    IF v_entry.balance_after IS NULL THEN
        fx_rate := finshard.fx_rate(p_currency, v_entry.currency);
        -- Truncated: rounded to nearest, a round trip of small amounts could gain a minor unit
        -- each way at the house's expense.
        amount := trunc(p_amount * fx_rate, (SELECT c.minor_units FROM finshard.currencies c WHERE c.code = v_entry.currency));
        IF amount <= 0 THEN
            PERFORM finshard.fail('FS002', format('%s %s converts to %s %s at %s: too small to transfer',
                                                  p_amount, p_currency, amount, v_entry.currency, fx_rate));
        END IF;
        v_entry := finshard._post_entry(p_account_id, amount, p_type, p_transfer_id, p_counterparty_account_id, p_description,
                                        p_house => p_house, p_currency => v_entry.currency);
    END IF;
    balance_after := v_entry.balance_after;
    currency := v_entry.currency;
    user_id := v_entry.user_id;
END
$$;
COMMENT ON FUNCTION finshard._credit_leg(bigint, numeric, text, text, bigint, bigint, text, boolean) IS 'The receiving leg of a movement: posts p_amount, converted at the rate in force when the account holds another currency than p_currency; returns the balance, the credited amount, its currency, the rate used (NULL when none) and the account''s user (the caller notifies)';
REVOKE ALL ON FUNCTION finshard._credit_leg(bigint, numeric, text, text, bigint, bigint, text, boolean) FROM PUBLIC;
