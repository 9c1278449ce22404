CREATE OR REPLACE FUNCTION finshard._audit_hash(p_prev_hash text, p_account_id bigint, p_audit_seq bigint,
                                                p_action text, p_details jsonb, p_created_at timestamptz)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    -- The time is hashed as UTC microseconds since the epoch: independent of the TimeZone setting.
    -- PL/pgSQL, not SQL: an SQL function that cannot be inlined is parsed again on every statement.
    RETURN encode(pg_catalog.sha256(pg_catalog.convert_to(
               concat_ws('|', p_prev_hash, p_account_id, p_audit_seq, p_action, p_details::text,
                         (extract(epoch FROM p_created_at) * 1000000)::bigint), 'UTF8')), 'hex');
END
$$;
COMMENT ON FUNCTION finshard._audit_hash(text, bigint, bigint, text, jsonb, timestamptz) IS 'sha256 link of the audit hash chain: covers the previous hash and every field of the entry';
REVOKE ALL ON FUNCTION finshard._audit_hash(text, bigint, bigint, text, jsonb, timestamptz) FROM PUBLIC;
