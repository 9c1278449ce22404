CREATE OR REPLACE FUNCTION finshard._carry_mac(p_key bytea, p_account_id bigint, p_ledger_through timestamptz, p_entry_seq bigint,
                                               p_balance numeric, p_deposits numeric, p_withdrawals numeric, p_sales numeric,
                                               p_purchases numeric, p_fees numeric, p_audit_through timestamptz,
                                               p_audit_seq bigint, p_audit_hash text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- Keyed like the audit chain (_audit_hash): whoever can write the table but has not the key
    -- cannot move an account's chain start or its carried balance. Times as UTC microseconds.
    SELECT encode(public.hmac(pg_catalog.convert_to(
               concat_ws('|', p_account_id, coalesce((extract(epoch FROM p_ledger_through) * 1000000)::bigint::text, '-'),
                         p_entry_seq, p_balance, p_deposits, p_withdrawals, p_sales, p_purchases, p_fees,
                         coalesce((extract(epoch FROM p_audit_through) * 1000000)::bigint::text, '-'), p_audit_seq, p_audit_hash),
               'UTF8'), p_key, 'sha256'), 'hex');
$$;
COMMENT ON FUNCTION finshard._carry_mac(bytea, bigint, timestamptz, bigint, numeric, numeric, numeric, numeric, numeric, numeric, timestamptz, bigint, text) IS 'HMAC-SHA256 under key p_key of a finshard.carried_forward row';
REVOKE ALL ON FUNCTION finshard._carry_mac(bytea, bigint, timestamptz, bigint, numeric, numeric, numeric, numeric, numeric, numeric, timestamptz, bigint, text) FROM PUBLIC;
