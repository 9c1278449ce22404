CREATE OR REPLACE FUNCTION finshard._end_order(p_account_id bigint, p_order_id bigint, p_created_at timestamptz, p_status text)
RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    -- For a run over many accounts' orders (expiry, an instrument's deactivation): the account
    -- first, then its order, the lock order of place_order, cancel_order and fills. Still open
    -- once its account is locked, as _match_order checks: a cancel or fill since the run read it
    -- has already released what it reserved. Returns whether it ended the order.
    PERFORM 1 FROM finshard.accounts a WHERE a.account_id = p_account_id FOR UPDATE;
    PERFORM 1 FROM finshard.orders o
     WHERE o.account_id = p_account_id AND o.order_id = p_order_id AND o.created_at = p_created_at
       AND o.status IN ('new', 'partially_filled') FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM finshard._close_order(p_account_id, p_order_id, p_status, p_created_at);
    RETURN true;
END
$$;
COMMENT ON FUNCTION finshard._end_order(bigint, bigint, timestamptz, text) IS 'Locks the account, then ends the order with p_status if it is still open (releasing what it reserves); true when it did';
REVOKE ALL ON FUNCTION finshard._end_order(bigint, bigint, timestamptz, text) FROM PUBLIC;
