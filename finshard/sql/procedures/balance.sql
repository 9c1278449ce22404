CREATE OR REPLACE FUNCTION finshard.balance(p_account_id bigint,
                                            p_session text DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_balance numeric;
BEGIN
    IF current_query() IS NULL THEN PERFORM finshard._refuse_call('balance'); END IF;
    -- Who may do this, for whom: docs/roles.md.
    PERFORM finshard._authorize(p_session, p_account_id, 'read');
    PERFORM finshard._not_null(p_account_id, 'p_account_id');
    SELECT a.balance INTO v_balance FROM finshard.accounts a WHERE a.account_id = p_account_id;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS010', format('account %s does not exist', p_account_id));
    END IF;
    RETURN v_balance;
END
$$;
COMMENT ON FUNCTION finshard.balance(bigint, text) IS 'Posted balance of an account (available = balance - reserved, see finshard.accounts). Raises FS001, FS010, FS080-FS085';
REVOKE ALL ON FUNCTION finshard.balance(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.balance(bigint, text) TO finshard_app, finshard_admin, finshard_readonly;
