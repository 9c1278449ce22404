CREATE OR REPLACE FUNCTION finshard._account_problem(p_account_id bigint, p_amount numeric DEFAULT 0, p_release numeric DEFAULT 0,
                                                     p_house boolean DEFAULT false, p_currency text DEFAULT NULL,
                                                     p_lock boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_acc finshard.accounts;
BEGIN
    -- The slow path after a guarded UPDATE matched no row: say exactly why. The row is locked, so
    -- what is checked here stays true: when nothing is wrong (a concurrent credit arrived after the
    -- guarded UPDATE looked), this returns NULL and the caller applies its UPDATE again, under the lock.
    -- Without p_lock (a caller that holds a lock it must not take this one after) the reason is
    -- read from the latest committed row.
    IF p_lock THEN
        SELECT * INTO v_acc FROM finshard.accounts a WHERE a.account_id = p_account_id /*on shards: AND hashint8(a.account_id) = hashint8(p_account_id) */ FOR UPDATE;
    ELSE
        SELECT * INTO v_acc FROM finshard.accounts a WHERE a.account_id = p_account_id /*on shards: AND hashint8(a.account_id) = hashint8(p_account_id) */;
    END IF;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS010', format('account %s does not exist', p_account_id));
    ELSIF v_acc.status = 'closed' THEN
        PERFORM finshard.fail('FS011', format('account %s is closed', p_account_id));
    ELSIF v_acc.status = 'frozen' THEN
        PERFORM finshard.fail('FS012', format('account %s is frozen', p_account_id));
    ELSIF (v_acc.account_type IN ('house', 'system')) <> p_house THEN
        PERFORM finshard.fail('FS019', format('account %s is a %s account', p_account_id, v_acc.account_type));
    ELSIF v_acc.currency <> p_currency THEN
        -- Not an error: the caller converts and applies the entry in this currency.
        RETURN v_acc.currency;
    ELSIF abs(v_acc.balance + p_amount) >= 1e18 THEN
        PERFORM finshard.fail('FS004',
            format('account %s holds %s %s; %s %s more is beyond what a balance holds (< 1e18)', p_account_id,
                   v_acc.balance, v_acc.currency, p_amount, v_acc.currency));
    ELSIF NOT p_house AND v_acc.balance + p_amount < v_acc.reserved - p_release THEN
        PERFORM finshard.fail('FS013',
            format('account %s has %s %s available; %s %s is needed', p_account_id,
                   v_acc.balance - v_acc.reserved, v_acc.currency, -p_amount, v_acc.currency),
            format('balance %s, reserved %s', v_acc.balance, v_acc.reserved));
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION finshard._account_problem(bigint, numeric, numeric, boolean, text, boolean) IS 'Locks account p_account_id (unless p_lock is false) and raises the reason (FS004/010/011/012/013/019) why it cannot take a movement of p_amount; returns its currency when that is not p_currency, NULL when nothing is wrong (the caller retries under the lock)';
REVOKE ALL ON FUNCTION finshard._account_problem(bigint, numeric, numeric, boolean, text, boolean) FROM PUBLIC;
