CREATE OR REPLACE FUNCTION finshard._transfer_message(p_sent boolean, p_transfer_id bigint, p_amount numeric,
                                                      p_currency text, p_counterparty_account_id bigint)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    -- One expression, so that PostgreSQL inlines it (STABLE, as format is).
    SELECT CASE WHEN p_sent
                THEN format('Transfer %s: %s %s sent to account %s', p_transfer_id, p_amount, p_currency, p_counterparty_account_id)
                ELSE format('Transfer %s: %s %s received from account %s', p_transfer_id, p_amount, p_currency,
                            p_counterparty_account_id) END
$$;
COMMENT ON FUNCTION finshard._transfer_message(boolean, bigint, numeric, text, bigint) IS 'The text of a transfer''s transfer_success (p_sent) or credited notification: one definition for both transfer paths';
REVOKE ALL ON FUNCTION finshard._transfer_message(boolean, bigint, numeric, text, bigint) FROM PUBLIC;
