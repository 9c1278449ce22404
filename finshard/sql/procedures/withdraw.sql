CREATE OR REPLACE FUNCTION finshard.withdraw(p_account_id bigint,
                                         p_amount numeric,
                                         p_idempotency_key text DEFAULT NULL,
                                         p_description text DEFAULT NULL,
                                         p_session text DEFAULT NULL,
                                         OUT transaction_id bigint,
                                         OUT balance numeric)
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT m.transaction_id, m.balance
      FROM finshard._cash_movement(p_account_id, p_amount, 'withdraw', p_idempotency_key, p_description, p_session) m;
$$;
COMMENT ON FUNCTION finshard.withdraw(bigint, numeric, text, text, text) IS 'Debits p_amount (in the account''s currency) out of finshard, up to the available balance; returns the ledger transaction_id and the new balance. Idempotent with p_idempotency_key. Raises FS001-FS006, FS010-FS013, FS019, FS030, FS080-FS085, FS021';
REVOKE ALL ON FUNCTION finshard.withdraw(bigint, numeric, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.withdraw(bigint, numeric, text, text, text) TO finshard_app, finshard_admin;
