CREATE OR REPLACE FUNCTION finshard._user_audit_hash(p_key bytea, p_prev_hash text, p_user_id bigint, p_audit_seq bigint,
                                                     p_action text, p_details jsonb, p_created_at timestamptz, p_actor text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    -- As _audit_hash, with 'user' in front: an entry of a user's chain never verifies as an entry of
    -- the account chain of the same number, or the other way round.
    RETURN encode(public.hmac(pg_catalog.convert_to(
               concat_ws('|', 'user', p_prev_hash, p_user_id, p_audit_seq, p_action, p_details::text,
                         (extract(epoch FROM p_created_at) * 1000000)::bigint, p_actor), 'UTF8'), p_key, 'sha256'), 'hex');
END
$$;
COMMENT ON FUNCTION finshard._user_audit_hash(bytea, text, bigint, bigint, text, jsonb, timestamptz, text) IS 'HMAC-SHA256 link of a user''s login audit chain under key p_key: covers the previous hash and every field of the entry';
REVOKE ALL ON FUNCTION finshard._user_audit_hash(bytea, text, bigint, bigint, text, jsonb, timestamptz, text) FROM PUBLIC;
