CREATE OR REPLACE FUNCTION finshard._audit_hash(p_key bytea, p_prev_hash text, p_account_id bigint, p_audit_seq bigint,
                                                p_action text, p_details jsonb, p_created_at timestamptz,
                                                p_actor text, p_on_behalf_of bigint)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    -- Keyed (HMAC-SHA256): whoever can rewrite the table but has not the key, which is a file
    -- outside the tables, cannot make an altered chain verify. The time is hashed as UTC
    -- microseconds since the epoch: independent of the TimeZone setting. PL/pgSQL, not SQL: an
    -- SQL function that cannot be inlined is parsed again on every statement.
    RETURN encode(public.hmac(pg_catalog.convert_to(
               concat_ws('|', p_prev_hash, p_account_id, p_audit_seq, p_action, p_details::text,
                         (extract(epoch FROM p_created_at) * 1000000)::bigint, p_actor,
                         coalesce(p_on_behalf_of::text, '-')), 'UTF8'), p_key, 'sha256'), 'hex');
END
$$;
COMMENT ON FUNCTION finshard._audit_hash(bytea, text, bigint, bigint, text, jsonb, timestamptz, text, bigint) IS 'HMAC-SHA256 link of the audit hash chain under key p_key: covers the previous hash and every field of the entry, the actor and the end user included';
REVOKE ALL ON FUNCTION finshard._audit_hash(bytea, text, bigint, bigint, text, jsonb, timestamptz, text, bigint) FROM PUBLIC;
