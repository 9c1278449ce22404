-- The result became a record (currency and the notify setting): drop the text-returning one.
DROP FUNCTION IF EXISTS finshard._transfer_checks(bigint, bigint, numeric, text);
CREATE OR REPLACE FUNCTION finshard._transfer_checks(p_from_account_id bigint, p_to_account_id bigint, p_amount numeric,
                                                     p_description text,
                                                     OUT currency text,
                                                     OUT notify_delivery text)
LANGUAGE plpgsql
AS $$
DECLARE
    v_minor smallint;
BEGIN
    -- The helpers raise the errors; the IF keeps their calls off the path of a valid transfer.
    IF p_from_account_id IS NULL OR p_to_account_id IS NULL OR p_amount IS NULL THEN
        PERFORM finshard._not_null(p_from_account_id, 'p_from_account_id');
        PERFORM finshard._not_null(p_to_account_id, 'p_to_account_id');
        PERFORM finshard._not_null(p_amount, 'p_amount');
    END IF;
    PERFORM finshard._check_text(p_description, 'p_description', 500);
    IF p_from_account_id = p_to_account_id THEN
        PERFORM finshard.fail('FS014', format('transfer from account %s to itself', p_from_account_id));
    END IF;
    -- One statement for the currency, its decimals (a reference table) and the notify setting (a
    -- reference table), so that the movement needs no statement of its own to read the setting;
    -- transfer is never force-delegated, which would refuse the join.
    SELECT a.currency, c.minor_units, s.value INTO currency, v_minor, notify_delivery
      FROM finshard.accounts a
      JOIN finshard.currencies c ON c.code = a.currency
      LEFT JOIN finshard.settings s ON s.key = 'notify_delivery'
     WHERE a.account_id = p_from_account_id;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS010', format('account %s does not exist', p_from_account_id));
    END IF;
    PERFORM finshard._check_amount(p_amount, currency, 'p_amount', v_minor);
END
$$;
COMMENT ON FUNCTION finshard._transfer_checks(bigint, bigint, numeric, text) IS 'Argument checks shared by transfer and create_pending_transfer; returns the source currency and the notify_delivery setting';
REVOKE ALL ON FUNCTION finshard._transfer_checks(bigint, bigint, numeric, text) FROM PUBLIC;
