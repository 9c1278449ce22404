CREATE OR REPLACE FUNCTION finshard.user_analytics(p_user_id bigint, p_from timestamptz, p_to timestamptz,
                                                   p_session text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_accounts bigint[];
    v_total    numeric := 0;
    v_missing  text[] := '{}';
    v_acc      record;
    v_rate     numeric;
    v_by_type  jsonb;
    v_by_day   jsonb;
BEGIN
    IF current_query() IS NULL THEN PERFORM finshard._refuse_call('user_analytics'); END IF;
    -- Who may do this, for whom: docs/roles.md.
    PERFORM finshard._authorize_user(p_session, p_user_id, 'read');
    PERFORM finshard._not_null(p_user_id, 'p_user_id');
    PERFORM finshard._check_period(p_from, p_to);
    IF NOT EXISTS (SELECT 1 FROM finshard.users u WHERE u.user_id = p_user_id AND u.role <> 'system') THEN
        PERFORM finshard.fail('FS020', format('user %s does not exist', p_user_id));
    END IF;
    -- Total balance in USD (seed 001) at the rates in force now; a currency with no rate is
    -- listed rather than guessed.
    FOR v_acc IN SELECT a.account_id, a.currency, a.balance FROM finshard.accounts a WHERE a.user_id = p_user_id LOOP
        v_accounts := v_accounts || v_acc.account_id;
        BEGIN
            v_rate := finshard.fx_rate(v_acc.currency, 'USD');
            v_total := v_total + round(v_acc.balance * v_rate, 2);
        EXCEPTION WHEN SQLSTATE 'FS018' THEN
            v_missing := array_append(v_missing, v_acc.currency);
        END;
    END LOOP;
    -- Per type and currency: count, sum, average and max of the amounts moved (absolute values).
    SELECT coalesce(jsonb_agg(jsonb_build_object('transaction_type', s.transaction_type, 'currency', s.currency,
                                                 'count', s.n, 'sum', s.total, 'avg', round(s.total / s.n, 4), 'max', s.biggest)
                              ORDER BY s.transaction_type, s.currency), '[]')
      INTO v_by_type
      FROM (SELECT t.transaction_type, t.currency, count(*) AS n, sum(abs(t.amount)) AS total, max(abs(t.amount)) AS biggest
              FROM finshard.transactions t
             WHERE t.account_id = ANY (v_accounts) AND t.created_at >= p_from AND t.created_at < p_to
             GROUP BY t.transaction_type, t.currency) s;
    -- Per UTC day and currency: entries, money in, money out.
    SELECT coalesce(jsonb_agg(jsonb_build_object('day', d.day, 'currency', d.currency, 'count', d.n,
                                                 'credits', d.credits, 'debits', d.debits)
                              ORDER BY d.day, d.currency), '[]')
      INTO v_by_day
      FROM (SELECT (t.created_at AT TIME ZONE 'UTC')::date AS day, t.currency, count(*) AS n,
                   coalesce(sum(t.amount) FILTER (WHERE t.amount > 0), 0) AS credits,
                   coalesce(-sum(t.amount) FILTER (WHERE t.amount < 0), 0) AS debits
              FROM finshard.transactions t
             WHERE t.account_id = ANY (v_accounts) AND t.created_at >= p_from AND t.created_at < p_to
             GROUP BY 1, 2) d;
    RETURN jsonb_build_object('user_id', p_user_id, 'from', p_from, 'to', p_to,
                              'accounts', coalesce(to_jsonb(v_accounts), '[]'),
                              'total_balance_usd', v_total, 'unconverted_currencies', to_jsonb(v_missing),
                              'by_type', v_by_type, 'by_day', v_by_day);
END
$$;
COMMENT ON FUNCTION finshard.user_analytics(bigint, timestamptz, timestamptz, text) IS 'Seed 001 analytics for a user over [p_from, p_to): total balance in USD, per type and currency count/sum/avg/max, per-day totals; as jsonb. Raises FS001, FS020, FS070, FS080-FS085';
REVOKE ALL ON FUNCTION finshard.user_analytics(bigint, timestamptz, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.user_analytics(bigint, timestamptz, timestamptz, text) TO finshard_app, finshard_admin, finshard_readonly;
