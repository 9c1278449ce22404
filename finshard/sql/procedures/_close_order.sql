CREATE OR REPLACE FUNCTION finshard._close_order(p_account_id bigint, p_order_id bigint, p_status text, p_created_at timestamptz)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_order record;
BEGIN
    -- created_at comes with the id everywhere: it prunes the monthly partitions to one.
    -- Ends an open order: what it still reserves (cash for a buy, quantity for a sell) is released.
    SELECT o.reserved_cash AS released, o.quantity - o.filled_quantity AS unfilled, o.side, o.instrument_id, o.created_at
      INTO v_order FROM finshard.orders o
     WHERE o.account_id = p_account_id AND o.order_id = p_order_id AND o.created_at = p_created_at
       /*on shards: AND hashint8(o.account_id) = hashint8(p_account_id) */ FOR UPDATE;
    UPDATE finshard.orders SET status = p_status, reserved_cash = 0, updated_at = now()
     WHERE account_id = p_account_id AND order_id = p_order_id AND created_at = v_order.created_at
       /*on shards: AND hashint8(account_id) = hashint8(p_account_id) */;
    IF v_order.side = 'buy' AND v_order.released > 0 THEN
        UPDATE finshard.accounts SET reserved = reserved - v_order.released, updated_at = now()
         WHERE account_id = p_account_id /*on shards: AND hashint8(account_id) = hashint8(p_account_id) */;
    ELSIF v_order.side = 'sell' THEN
        UPDATE finshard.positions SET reserved_quantity = reserved_quantity - v_order.unfilled, updated_at = now()
         WHERE account_id = p_account_id AND instrument_id = v_order.instrument_id
           /*on shards: AND hashint8(account_id) = hashint8(p_account_id) */;
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._close_order(bigint, bigint, text, timestamptz) IS 'Sets an open order cancelled, expired or rejected and releases its reserved cash or quantity';
REVOKE ALL ON FUNCTION finshard._close_order(bigint, bigint, text, timestamptz) FROM PUBLIC;
