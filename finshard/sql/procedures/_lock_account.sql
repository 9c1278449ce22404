CREATE OR REPLACE FUNCTION finshard._lock_account(p_account_id bigint,
                                                  OUT user_id bigint,
                                                  OUT bank_id bigint,
                                                  OUT account_type text,
                                                  OUT currency text,
                                                  OUT balance numeric,
                                                  OUT reserved numeric,
                                                  OUT status text)
LANGUAGE plpgsql
AS $$
BEGIN
    -- OUT parameters, not the accounts row type: a table row type as a return type breaks
    -- re-installs on Citus workers.
    SELECT a.user_id, a.bank_id, a.account_type, a.currency, a.balance, a.reserved, a.status
      INTO user_id, bank_id, account_type, currency, balance, reserved, status
      FROM finshard.accounts a WHERE a.account_id = p_account_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS010', format('account %s does not exist', p_account_id));
    END IF;
    IF account_type IN ('house', 'system') THEN
        PERFORM finshard.fail('FS019', format('account %s is a %s account', p_account_id, account_type));
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._lock_account(bigint) IS 'Locks and returns a customer account; raises FS010 (unknown) or FS019 (house/system)';
REVOKE ALL ON FUNCTION finshard._lock_account(bigint) FROM PUBLIC;
