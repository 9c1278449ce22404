CREATE OR REPLACE FUNCTION finshard._transfer_checks(p_from_account_id bigint, p_to_account_id bigint, p_amount numeric,
                                                     p_description text,
                                                     p_authorize boolean DEFAULT false,
                                                     p_user bigint DEFAULT NULL,
                                                     OUT currency text,
                                                     OUT notify_delivery text)
LANGUAGE plpgsql
AS $$
DECLARE
    v_minor  smallint;
    v_owner  bigint;
    v_active boolean;
BEGIN
    IF p_from_account_id IS NULL THEN
        PERFORM finshard._not_null(p_from_account_id, 'p_from_account_id');
    END IF;
    -- One statement for the currency, its decimals (a reference table), the notify setting (a
    -- reference table) and the owner, so that neither the movement nor the authorization needs a
    -- statement of its own to read them; transfer is never force-delegated, which would refuse the join.
    SELECT a.currency, c.minor_units, s.value, a.user_id, a.owner_active
      INTO currency, v_minor, notify_delivery, v_owner, v_active
      FROM finshard.accounts a
      JOIN finshard.currencies c ON c.code = a.currency
      LEFT JOIN finshard.settings s ON s.key = 'notify_delivery'
     WHERE a.account_id = p_from_account_id;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS010', format('account %s does not exist', p_from_account_id));
    END IF;
    -- With p_authorize, _authorize's sender rule on the row just read (the caller ran _caller, which
    -- checked the session): its owner's session, or a role acting as itself; an active owner.
    IF p_authorize THEN
        IF p_user IS NOT NULL AND v_owner <> p_user THEN
            PERFORM finshard.fail('FS085', format('account %s does not belong to user %s', p_from_account_id, p_user));
        END IF;
        IF NOT v_active THEN
            PERFORM finshard.fail('FS021', format('account %s belongs to a deactivated user: it can neither send money nor place orders',
                                                  p_from_account_id));
        END IF;
    END IF;
    -- The helpers raise the errors; the IF keeps their calls off the path of a valid transfer.
    IF p_to_account_id IS NULL OR p_amount IS NULL THEN
        PERFORM finshard._not_null(p_to_account_id, 'p_to_account_id');
        PERFORM finshard._not_null(p_amount, 'p_amount');
    END IF;
    PERFORM finshard._check_text(p_description, 'p_description', 500);
    IF p_from_account_id = p_to_account_id THEN
        PERFORM finshard.fail('FS014', format('transfer from account %s to itself', p_from_account_id));
    END IF;
    PERFORM finshard._check_amount(p_amount, currency, 'p_amount', v_minor);
END
$$;
COMMENT ON FUNCTION finshard._transfer_checks(bigint, bigint, numeric, text, boolean, bigint) IS 'Argument checks shared by transfer and create_pending_transfer; with p_authorize also the sender rule for end user p_user (NULL: a role acting as itself). Returns the source currency and the notify_delivery setting';
REVOKE ALL ON FUNCTION finshard._transfer_checks(bigint, bigint, numeric, text, boolean, bigint) FROM PUBLIC;
