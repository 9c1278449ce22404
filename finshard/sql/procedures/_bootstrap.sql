CREATE OR REPLACE FUNCTION finshard._bootstrap()
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_code text;
    v_id   bigint;
BEGIN
    -- The system user and account 0 hold the system audit chain; they can never log in or move money.
    INSERT INTO finshard.users (user_id, username, email, password_hash, role, is_active)
    VALUES (0, 'system', 'system@finshard.invalid', '!', 'system', false)
    ON CONFLICT DO NOTHING;
    INSERT INTO finshard.accounts (account_id, user_id, account_type, account_number, currency)
    VALUES (0, 0, 'system', 'FS000000000000', 'USD')
    ON CONFLICT DO NOTHING;
    -- One house fx account per currency.
    FOR v_code IN SELECT c.code FROM finshard.currencies c WHERE c.house_account_id IS NULL ORDER BY c.code LOOP
        v_id := nextval('finshard.accounts_account_id_seq');
        INSERT INTO finshard.accounts (account_id, user_id, account_type, account_number, currency)
        VALUES (v_id, 0, 'house', 'FS' || lpad(v_id::text, 12, '0'), v_code);
        UPDATE finshard.currencies SET house_account_id = v_id WHERE code = v_code;
    END LOOP;
END
$$;
COMMENT ON FUNCTION finshard._bootstrap() IS 'Creates the system user, system account 0 and a house fx account for every currency that lacks one; re-runnable';
REVOKE ALL ON FUNCTION finshard._bootstrap() FROM PUBLIC;
