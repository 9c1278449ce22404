CREATE OR REPLACE FUNCTION finshard._transfer_checks(p_from_account_id bigint, p_to_account_id bigint, p_amount numeric,
                                                     p_description text)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_currency text;
    v_minor    smallint;
BEGIN
    PERFORM finshard._not_null(p_from_account_id, 'p_from_account_id');
    PERFORM finshard._not_null(p_to_account_id, 'p_to_account_id');
    PERFORM finshard._not_null(p_amount, 'p_amount');
    PERFORM finshard._check_text(p_description, 'p_description', 500);
    IF p_from_account_id = p_to_account_id THEN
        PERFORM finshard.fail('FS014', format('transfer from account %s to itself', p_from_account_id));
    END IF;
    -- One statement for the currency and its decimals (accounts joined to a reference table); transfer
    -- is never force-delegated, which would refuse the join.
    SELECT a.currency, c.minor_units INTO v_currency, v_minor
      FROM finshard.accounts a JOIN finshard.currencies c ON c.code = a.currency
     WHERE a.account_id = p_from_account_id;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS010', format('account %s does not exist', p_from_account_id));
    END IF;
    PERFORM finshard._check_amount(p_amount, v_currency, 'p_amount', v_minor);
    RETURN v_currency;
END
$$;
COMMENT ON FUNCTION finshard._transfer_checks(bigint, bigint, numeric, text) IS 'Argument checks shared by transfer and create_pending_transfer; returns the source currency';
REVOKE ALL ON FUNCTION finshard._transfer_checks(bigint, bigint, numeric, text) FROM PUBLIC;
