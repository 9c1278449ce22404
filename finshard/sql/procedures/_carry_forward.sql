CREATE OR REPLACE FUNCTION finshard._carry_forward(p_table regclass, p_partition text, p_through timestamptz)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    -- Before retire_partitions drops a month of the ledger or of the audit log: each account's
    -- state at its end, into finshard.carried_forward, keyed (_carry_mac). Months retire oldest
    -- first; greatest() keeps a row right if one came out of order.
    IF p_table = 'finshard.transactions'::regclass THEN
        EXECUTE format($q$
            INSERT INTO finshard.carried_forward AS c (account_id, ledger_through, entry_seq, balance, deposits, withdrawals,
                                                       sales, purchases, fees)
            SELECT t.account_id, %L::timestamptz, max(t.entry_seq), (array_agg(t.balance_after ORDER BY t.entry_seq DESC))[1],
                   coalesce(sum(t.amount) FILTER (WHERE t.transaction_type = 'deposit'), 0),
                   coalesce(-sum(t.amount) FILTER (WHERE t.transaction_type = 'withdraw'), 0),
                   coalesce(sum(t.amount) FILTER (WHERE t.transaction_type = 'trade_sell'), 0),
                   coalesce(-sum(t.amount) FILTER (WHERE t.transaction_type = 'trade_buy'), 0),
                   coalesce(-sum(t.amount) FILTER (WHERE t.transaction_type = 'fee'), 0)
              FROM finshard.%I t
             GROUP BY t.account_id
            ON CONFLICT (account_id) DO UPDATE
               SET ledger_through = greatest(c.ledger_through, EXCLUDED.ledger_through),
                   balance = CASE WHEN EXCLUDED.entry_seq > c.entry_seq THEN EXCLUDED.balance ELSE c.balance END,
                   entry_seq = greatest(c.entry_seq, EXCLUDED.entry_seq),
                   deposits = c.deposits + EXCLUDED.deposits, withdrawals = c.withdrawals + EXCLUDED.withdrawals,
                   sales = c.sales + EXCLUDED.sales, purchases = c.purchases + EXCLUDED.purchases, fees = c.fees + EXCLUDED.fees$q$,
            p_through, p_partition);
    ELSIF p_table = 'finshard.audit_log'::regclass THEN
        EXECUTE format($q$
            INSERT INTO finshard.carried_forward AS c (account_id, audit_through, audit_seq, audit_hash)
            SELECT l.account_id, %L::timestamptz, max(l.audit_seq), (array_agg(l.hash ORDER BY l.audit_seq DESC))[1]
              FROM finshard.%I l
             GROUP BY l.account_id
            ON CONFLICT (account_id) DO UPDATE
               SET audit_through = greatest(c.audit_through, EXCLUDED.audit_through),
                   audit_hash = CASE WHEN EXCLUDED.audit_seq > c.audit_seq THEN EXCLUDED.audit_hash ELSE c.audit_hash END,
                   audit_seq = greatest(c.audit_seq, EXCLUDED.audit_seq)$q$,
            p_through, p_partition);
    ELSE
        RETURN;
    END IF;
    EXECUTE format($q$
        UPDATE finshard.carried_forward c
           SET mac = finshard._carry_mac(finshard._key('audit'), c.account_id, c.ledger_through, c.entry_seq, c.balance,
                                         c.deposits, c.withdrawals, c.sales, c.purchases, c.fees, c.audit_through,
                                         c.audit_seq, c.audit_hash)
         WHERE c.account_id IN (SELECT x.account_id FROM finshard.%I x)$q$, p_partition);
END
$$;
COMMENT ON FUNCTION finshard._carry_forward(regclass, text, timestamptz) IS 'Carries each account''s state at the end of a ledger or audit partition about to be retired into finshard.carried_forward, with its MAC';
REVOKE ALL ON FUNCTION finshard._carry_forward(regclass, text, timestamptz) FROM PUBLIC;
