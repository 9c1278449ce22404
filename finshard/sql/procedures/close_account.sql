CREATE OR REPLACE FUNCTION finshard.close_account(p_account_id bigint,
                                                  p_session text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_acc record;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('close_account');
    END IF;
    -- Who may do this, for whom: docs/roles.md.
    PERFORM finshard._authorize(p_session, p_account_id, 'owner_or_admin');
    PERFORM finshard._not_null(p_account_id, 'p_account_id');
    SELECT * INTO v_acc FROM finshard._lock_account(p_account_id);
    IF v_acc.status = 'closed' THEN
        PERFORM finshard.fail('FS011', format('account %s is closed', p_account_id));
    END IF;
    IF v_acc.balance <> 0 OR v_acc.reserved <> 0 THEN
        PERFORM finshard.fail('FS015', format('account %s holds %s %s (%s reserved); only an empty account closes',
                                              p_account_id, v_acc.balance, v_acc.currency, v_acc.reserved));
    END IF;
    -- Shares held or orders open would be stranded on a closed account (and an order resting there
    -- could never fill): sell and cancel first.
    IF EXISTS (SELECT 1 FROM finshard.positions p WHERE p.account_id = p_account_id AND p.quantity <> 0) THEN
        PERFORM finshard.fail('FS015', format('account %s holds positions; only an account that holds none closes (sell them first)', p_account_id));
    END IF;
    IF EXISTS (SELECT 1 FROM finshard.orders o WHERE o.account_id = p_account_id AND o.status IN ('new', 'partially_filled')) THEN
        PERFORM finshard.fail('FS015', format('account %s has open orders; only an account with none closes (cancel them first)', p_account_id));
    END IF;
    UPDATE finshard.accounts SET status = 'closed', updated_at = now() WHERE account_id = p_account_id;
    -- Free the (user, bank, currency, type) key so the user may open such an account again.
    DELETE FROM finshard.account_keys k
     WHERE k.user_id = v_acc.user_id AND k.bank_key = coalesce(v_acc.bank_id, 0)
       AND k.currency = v_acc.currency AND k.account_type = v_acc.account_type AND k.account_id = p_account_id;
    PERFORM finshard._audit(p_account_id, 'close_account', '{}');
END
$$;
COMMENT ON FUNCTION finshard.close_account(bigint, text) IS 'Closes an empty account (zero balance, nothing reserved, no positions, no open orders). Raises FS001, FS010, FS011, FS015, FS019, FS080-FS085';
REVOKE ALL ON FUNCTION finshard.close_account(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.close_account(bigint, text) TO finshard_app, finshard_admin;
