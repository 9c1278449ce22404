CREATE OR REPLACE FUNCTION finshard.open_account(p_user_id bigint,
                                                 p_currency text DEFAULT 'USD',
                                                 p_account_type text DEFAULT 'cash',
                                                 p_bank_id bigint DEFAULT NULL,
                                                 p_session text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_account_id bigint;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('open_account');
    END IF;
    -- Who may do this, for whom: docs/roles.md.
    PERFORM finshard._authorize_user(p_session, p_user_id, 'self_or_admin');
    PERFORM finshard._not_null(p_user_id, 'p_user_id');
    PERFORM finshard._not_null(p_currency, 'p_currency');
    PERFORM finshard._not_null(p_account_type, 'p_account_type');
    PERFORM finshard._active_user(p_user_id);
    IF NOT EXISTS (SELECT 1 FROM finshard.currencies c WHERE c.code = p_currency) THEN
        PERFORM finshard.fail('FS017', format('currency %s is not in finshard.currencies', left(p_currency, 20)));
    END IF;
    IF p_account_type NOT IN ('cash', 'margin', 'savings') THEN
        PERFORM finshard.fail('FS005', format('account type %L is not cash, margin or savings', left(p_account_type, 50)));
    END IF;
    IF p_bank_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM finshard.banks b WHERE b.bank_id = p_bank_id) THEN
        PERFORM finshard.fail('FS026', format('bank %s does not exist', p_bank_id));
    END IF;
    v_account_id := nextval('finshard.accounts_account_id_seq');
    -- The key row is on the user's shard: of two concurrent opens, the second waits here for the
    -- first to commit and then inserts nothing.
    INSERT INTO finshard.account_keys (user_id, bank_key, currency, account_type, account_id)
    VALUES (p_user_id, coalesce(p_bank_id, 0), p_currency, p_account_type, v_account_id)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS016', format('user %s already has a %s %s account%s', p_user_id, p_currency, p_account_type,
                                              coalesce(' with bank ' || p_bank_id, '')));
    END IF;
    INSERT INTO finshard.accounts (account_id, user_id, bank_id, account_type, account_number, currency)
    VALUES (v_account_id, p_user_id, p_bank_id, p_account_type, 'FS' || lpad(v_account_id::text, 12, '0'), p_currency);
    PERFORM finshard._audit(v_account_id, 'open_account', jsonb_build_object('user_id', p_user_id, 'currency', p_currency,
                                                                             'account_type', p_account_type, 'bank_id', p_bank_id));
    RETURN v_account_id;
END
$$;
COMMENT ON FUNCTION finshard.open_account(bigint, text, text, bigint, text) IS 'Opens an account (type cash, margin or savings) for an active user, at most one per user, bank, currency and type; returns account_id. Raises FS001, FS005, FS016, FS017, FS020, FS021, FS026, FS080-FS085';
REVOKE ALL ON FUNCTION finshard.open_account(bigint, text, text, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.open_account(bigint, text, text, bigint, text) TO finshard_app, finshard_admin;
