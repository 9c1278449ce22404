CREATE OR REPLACE FUNCTION finshard.account_statement(p_account_id bigint, p_month date,
                                                      p_session text DEFAULT NULL)
RETURNS TABLE (line_type text, entry_seq bigint, created_at timestamptz, transaction_type text,
               amount numeric, balance numeric, description text, transfer_id bigint)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_from    timestamptz;
    v_to      timestamptz;
    v_opening numeric;
    v_carried record;
BEGIN
    -- Who may do this, for whom: docs/roles.md.
    PERFORM finshard._authorize(p_session, p_account_id, 'read');
    PERFORM finshard._not_null(p_account_id, 'p_account_id');
    PERFORM finshard._not_null(p_month, 'p_month');
    -- The month and the next one's start must be timestamps (22008 otherwise): 4713 BC to 294276 AD.
    IF NOT isfinite(p_month) OR p_month >= date '294276-12-01' OR p_month < date '0001-01-01' THEN
        PERFORM finshard.fail('FS070', format('p_month %s is outside the months a statement covers (0001-01 to 294276-11)', p_month));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM finshard.accounts a WHERE a.account_id = p_account_id) THEN
        PERFORM finshard.fail('FS010', format('account %s does not exist', p_account_id));
    END IF;
    -- Months are UTC months, like the partitions: a statement reads one partition.
    v_from := date_trunc('month', p_month::timestamp) AT TIME ZONE 'UTC';
    v_to := v_from + interval '1 month';
    -- A month whose entries were retired is in the archive, not here.
    SELECT c.ledger_through, c.balance INTO v_carried FROM finshard.carried_forward c WHERE c.account_id = p_account_id;
    IF v_from < v_carried.ledger_through THEN
        PERFORM finshard.fail('FS078', format('the entries of account %s before %s were retired to the archive; %s is among them',
                                              p_account_id, v_carried.ledger_through, to_char(v_from AT TIME ZONE 'UTC', 'YYYY-MM')));
    END IF;
    -- Opening balance: balance_after of the last entry before the month (created_at never
    -- decreases along entry_seq, so the newest by time is the last by seq), else what the retired
    -- months carried forward.
    SELECT t.balance_after INTO v_opening FROM finshard.transactions t
     WHERE t.account_id = p_account_id AND t.created_at < v_from
     ORDER BY t.created_at DESC, t.entry_seq DESC LIMIT 1;
    v_opening := coalesce(v_opening, v_carried.balance, 0);
    RETURN QUERY SELECT 'opening'::text, NULL::bigint, v_from, NULL::text, NULL::numeric, v_opening, NULL::text, NULL::bigint;
    RETURN QUERY
        SELECT 'entry'::text, t.entry_seq, t.created_at, t.transaction_type::text, t.amount, t.balance_after, t.description, t.transfer_id
          FROM finshard.transactions t
         WHERE t.account_id = p_account_id AND t.created_at >= v_from AND t.created_at < v_to
         ORDER BY t.entry_seq;
    RETURN QUERY
        SELECT 'closing'::text, NULL::bigint, v_to, NULL::text, coalesce(sum(t.amount), 0), v_opening + coalesce(sum(t.amount), 0),
               NULL::text, NULL::bigint
          FROM finshard.transactions t
         WHERE t.account_id = p_account_id AND t.created_at >= v_from AND t.created_at < v_to;
END
$$;
COMMENT ON FUNCTION finshard.account_statement(bigint, date, text) IS 'Monthly statement (UTC month of p_month): an opening row, every entry in order, a closing row whose amount is the month''s net and whose balance = opening + entries. Raises FS001, FS010, FS070, FS078 (the month was retired to the archive), FS080-FS085';
REVOKE ALL ON FUNCTION finshard.account_statement(bigint, date, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.account_statement(bigint, date, text) TO finshard_app, finshard_admin, finshard_readonly;
