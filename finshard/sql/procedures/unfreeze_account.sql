CREATE OR REPLACE FUNCTION finshard.unfreeze_account(p_account_id bigint, p_reason text DEFAULT NULL,
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
        PERFORM finshard._refuse_call('unfreeze_account');
    END IF;
    -- Who may do this, for whom: docs/roles.md.
    PERFORM finshard._authorize(p_session, p_account_id, 'admin');
    PERFORM finshard._not_null(p_account_id, 'p_account_id');
    PERFORM finshard._check_text(p_reason, 'p_reason', 500);
    SELECT * INTO v_acc FROM finshard._lock_account(p_account_id);
    IF v_acc.status = 'closed' THEN
        PERFORM finshard.fail('FS011', format('account %s is closed', p_account_id));
    END IF;
    IF v_acc.status <> 'frozen' THEN
        PERFORM finshard.fail('FS005', format('account %s is %s, not frozen', p_account_id, v_acc.status));
    END IF;
    UPDATE finshard.accounts SET status = 'active', updated_at = now() WHERE account_id = p_account_id;
    PERFORM finshard._audit(p_account_id, 'unfreeze_account', jsonb_build_object('reason', p_reason));
END
$$;
COMMENT ON FUNCTION finshard.unfreeze_account(bigint, text, text) IS 'Sets a frozen account active. Raises FS001, FS005, FS006, FS010, FS011, FS019, FS080-FS085';
REVOKE ALL ON FUNCTION finshard.unfreeze_account(bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.unfreeze_account(bigint, text, text) TO finshard_app, finshard_admin;
