CREATE OR REPLACE FUNCTION finshard.most_active_accounts(p_from timestamptz, p_to timestamptz, p_limit integer DEFAULT 10)
RETURNS TABLE (account_id bigint, currency text, entries bigint, volume numeric)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM finshard._check_period(p_from, p_to);
    PERFORM finshard._check_limit(p_limit, 10000);
    RETURN QUERY
        SELECT t.account_id, t.currency, count(*) AS n, sum(abs(t.amount))
          FROM finshard.transactions t
          JOIN finshard.accounts a ON a.account_id = t.account_id
         WHERE t.created_at >= p_from AND t.created_at < p_to AND a.account_type NOT IN ('house', 'system')
         GROUP BY t.account_id, t.currency
         ORDER BY n DESC, t.account_id
         LIMIT p_limit;
END
$$;
COMMENT ON FUNCTION finshard.most_active_accounts(timestamptz, timestamptz, integer) IS 'Admin report: customer accounts with the most ledger entries over [p_from, p_to). Raises FS001, FS005, FS070';
REVOKE ALL ON FUNCTION finshard.most_active_accounts(timestamptz, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.most_active_accounts(timestamptz, timestamptz, integer) TO finshard_admin, finshard_readonly;
