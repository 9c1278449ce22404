CREATE OR REPLACE FUNCTION finshard.ledger_verify()
RETURNS TABLE (account_id bigint, currency text, check_name text, detail text)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- Where retired months end (finshard.carried_forward; NULL while none are): each account's
    -- entries continue from its carried state, and a pair one of whose halves lies within a day
    -- after it (a transfer and its legs, a trade and its entries) may have lost the other to the
    -- archive: a missing half is not reported there.
    v_horizon timestamptz := (SELECT max(c.ledger_through) FROM finshard.carried_forward c) + interval '1 day';
    -- Fills settle rounded against the customer since schema level 5; before, half up.
    v_rounded timestamptz := coalesce((SELECT min(v.installed_at) FROM finshard.schema_version v WHERE v.migration >= 5), '-infinity');
BEGIN
    -- Each check is one set-based query. Those that join or window by account_id run on the
    -- shards as they are (every table here is colocated with accounts on Citus); only the
    -- transfer legs, which live on other accounts' shards, meet on the coordinator.

    -- Per entry, in entry_seq order: seqs run 1, 2, 3... (after the carried entry_seq) without gaps
    -- or duplicates, each balance_after is the previous one (the carried balance, or 0, before the
    -- first) plus the amount, and the entry is
    -- in its account's currency. created_at breaks ties so duplicates compare deterministically.
    RETURN QUERY
        SELECT e.account_id, e.currency, p.check_name,
               CASE p.check_name
                    WHEN 'entry_seq' THEN
                        CASE WHEN e.entry_seq = e.prev_seq
                                 THEN format('entry_seq %s appears more than once', e.entry_seq)
                             ELSE format('entry_seq %s follows %s: entries %s to %s are missing', e.entry_seq, e.prev_seq,
                                         e.prev_seq + 1, e.entry_seq - 1) END
                    WHEN 'running_balance' THEN
                        format('entry_seq %s: balance_after %s, but the previous balance %s plus the amount %s is %s',
                               e.entry_seq, e.balance_after, e.prev_balance, e.amount, e.prev_balance + e.amount)
                    ELSE format('entry_seq %s is in %s, the account in %s', e.entry_seq, e.currency, e.account_currency) END
          FROM (SELECT t.account_id, t.entry_seq, t.amount, t.balance_after, t.currency, a.currency AS account_currency,
                       lag(t.entry_seq, 1, coalesce(cf.entry_seq, 0)) OVER w AS prev_seq,
                       lag(t.balance_after, 1, coalesce(cf.balance, 0)) OVER w AS prev_balance
                  FROM finshard.transactions t
                  JOIN finshard.accounts a ON a.account_id = t.account_id
                  LEFT JOIN finshard.carried_forward cf ON cf.account_id = t.account_id
                WINDOW w AS (PARTITION BY t.account_id ORDER BY t.entry_seq, t.created_at)) e
         -- Only comparisons in VALUES, the messages in the select list: Citus pushes a lateral
         -- VALUES down to the shards only when it calls immutable functions (format is stable).
         CROSS JOIN LATERAL (VALUES ('entry_seq', e.entry_seq <> e.prev_seq + 1),
                                    ('running_balance', e.balance_after <> e.prev_balance + e.amount),
                                    ('entry_currency', e.currency <> e.account_currency))
               AS p (check_name, failed)
         WHERE p.failed;

    -- Per account: the carried balance (or 0) plus its entries is the balance, the entry numbered accounts.entry_seq
    -- holds that balance, and no entries are missing after the last one present.
    RETURN QUERY
        SELECT s.account_id, s.currency, p.check_name,
               CASE p.check_name
                    WHEN 'balance_sum' THEN
                        format('balance %s, but its %s entries sum to %s', s.balance, s.entries,
                               s.total || CASE WHEN s.carried IS NULL THEN '' ELSE format(' with the %s carried forward', s.carried) END)
                    WHEN 'last_balance' THEN
                        CASE WHEN s.last_rows = 0
                                 THEN format('balance %s, but its last entry (entry_seq %s) is missing', s.balance, s.entry_seq)
                             ELSE format('balance %s, but its last entry (entry_seq %s) has balance_after %s',
                                         s.balance, s.entry_seq, s.last_balance) END
                    ELSE
                        CASE WHEN s.max_seq < s.entry_seq
                                 THEN format('accounts.entry_seq is %s, but the last entry present is %s: entries %s to %s are missing',
                                             s.entry_seq, s.max_seq, s.max_seq + 1, s.entry_seq)
                             ELSE format('accounts.entry_seq is %s, but entries run to %s', s.entry_seq, s.max_seq) END END
          FROM (SELECT a.account_id, a.currency, a.balance, a.entry_seq, cf.balance AS carried,
                       coalesce(cf.balance, 0) + coalesce(sum(t.amount), 0) AS total,
                       count(t.account_id) AS entries,
                       greatest(coalesce(max(t.entry_seq), 0), coalesce(cf.entry_seq, 0)) AS max_seq,
                       count(t.account_id) FILTER (WHERE t.entry_seq = a.entry_seq) + coalesce((cf.entry_seq = a.entry_seq)::integer, 0) AS last_rows,
                       coalesce(max(t.balance_after) FILTER (WHERE t.entry_seq = a.entry_seq),
                                CASE WHEN cf.entry_seq = a.entry_seq THEN cf.balance END) AS last_balance
                  FROM finshard.accounts a
                  LEFT JOIN finshard.carried_forward cf ON cf.account_id = a.account_id
                  LEFT JOIN finshard.transactions t ON t.account_id = a.account_id
                 GROUP BY a.account_id, cf.account_id) s
         CROSS JOIN LATERAL (VALUES ('balance_sum', s.total <> s.balance),
                                    ('last_balance', s.entry_seq > 0 AND (s.last_rows = 0 OR s.last_balance <> s.balance)),
                                    ('entry_seq', s.max_seq <> s.entry_seq))
               AS p (check_name, failed)
         WHERE p.failed;

    -- Entries of accounts that do not exist: no other check sees them.
    RETURN QUERY
        SELECT t.account_id, min(t.currency), 'unknown_account'::text,
               format('%s entries summing to %s for an account that does not exist', count(*), sum(t.amount))
          FROM finshard.transactions t
         WHERE NOT EXISTS (SELECT 1 FROM finshard.accounts a WHERE a.account_id = t.account_id)
         GROUP BY t.account_id;

    -- Transfer legs: what _move writes for every transfer that moved money (status success, which
    -- includes posted pending transfers, for posted_amount), against the entries that carry a
    -- transfer type. Across currencies the source currency's house account takes the amount
    -- (fx_in) and the target currency's pays to_amount (fx_out). The legs live on four accounts'
    -- shards: both sides are materialized and meet on the coordinator.
    RETURN QUERY
        WITH expected AS MATERIALIZED (
            SELECT x.transfer_id, l.account_id, l.kind, l.amount, l.currency, coalesce(x.resolved_at, x.created_at) AS at
              FROM finshard.transfers x
              LEFT JOIN finshard.currencies cf ON cf.code = x.currency
              LEFT JOIN finshard.currencies ct ON ct.code = x.to_currency
             CROSS JOIN LATERAL (VALUES
                    (x.from_account_id, 'transfer_out', -coalesce(x.posted_amount, x.amount), x.currency, true),
                    (x.to_account_id, 'transfer_in', x.to_amount, x.to_currency, true),
                    (cf.house_account_id, 'fx_in', coalesce(x.posted_amount, x.amount), x.currency, x.currency <> x.to_currency),
                    (ct.house_account_id, 'fx_out', -x.to_amount, x.to_currency, x.currency <> x.to_currency))
                   AS l (account_id, kind, amount, currency, applies)
             WHERE x.status = 'success' AND l.applies
        ), actual AS MATERIALIZED (
            SELECT t.transfer_id, t.account_id, t.transaction_type::text AS kind, sum(t.amount) AS amount,
                   min(t.currency) AS currency, count(*) AS legs, min(t.created_at) AS at
              FROM finshard.transactions t
             WHERE t.transaction_type IN ('transfer_out', 'transfer_in', 'fx_in', 'fx_out')
             GROUP BY t.transfer_id, t.account_id, t.transaction_type
        )
        SELECT coalesce(e.account_id, a.account_id), coalesce(e.currency, a.currency), 'transfer_leg'::text,
               CASE WHEN a.account_id IS NULL
                        THEN format('transfer %s: no %s leg of %s %s on account %s', e.transfer_id, e.kind, e.amount,
                                    e.currency, e.account_id)
                    WHEN e.account_id IS NULL
                        THEN format('transfer %s: %s leg of %s %s on account %s, but no such leg is due (transfer missing or not successful)',
                                    coalesce(a.transfer_id::text, 'NULL'), a.kind, a.amount, a.currency, a.account_id)
                    WHEN a.legs > 1
                        THEN format('transfer %s: %s %s legs on account %s totalling %s %s (one of %s %s due)', e.transfer_id,
                                    a.legs, e.kind, e.account_id, a.amount, a.currency, e.amount, e.currency)
                    ELSE format('transfer %s: %s leg on account %s is %s %s, %s %s due', e.transfer_id, e.kind, e.account_id,
                                a.amount, a.currency, e.amount, e.currency) END
          FROM expected e
          FULL JOIN actual a ON a.transfer_id = e.transfer_id AND a.account_id = e.account_id AND a.kind = e.kind
         WHERE (e.account_id IS NULL OR a.account_id IS NULL OR a.legs <> 1
                OR a.amount IS DISTINCT FROM e.amount OR a.currency IS DISTINCT FROM e.currency)
           AND (v_horizon IS NULL OR (e.account_id IS NOT NULL AND a.account_id IS NOT NULL) OR least(e.at, a.at) >= v_horizon);

    -- Trade legs (_fill): each fill settles one trade_buy (-notional) or trade_sell (+notional)
    -- entry, notional = quantity x price in the account's minor units (_cash_amount), and a fee entry of
    -- -commission when there is a commission. Trades are colocated with their account's entries.
    RETURN QUERY
        WITH expected AS (
            SELECT r.account_id, r.trade_id, l.kind, l.amount, l.half_up, a.currency, r.executed_at AS at
              FROM finshard.trades r
              JOIN finshard.accounts a ON a.account_id = r.account_id
              JOIN finshard.currencies c ON c.code = a.currency
             CROSS JOIN LATERAL (VALUES
                    ('trade_' || r.side,
                     CASE r.side WHEN 'buy' THEN -1 ELSE 1 END * finshard._cash_amount(r.quantity, r.price, c.minor_units, r.side),
                     -- Fills settled before schema level 5 (v_rounded) rounded half up.
                     CASE r.side WHEN 'buy' THEN -1 ELSE 1 END * round(r.quantity * r.price, c.minor_units)),
                    ('fee', -r.commission, -r.commission))
                   AS l (kind, amount, half_up)
             WHERE l.kind <> 'fee' OR r.commission > 0
        ), actual AS (
            SELECT t.account_id, t.trade_id, t.transaction_type::text AS kind, sum(t.amount) AS amount, count(*) AS legs,
                   min(t.created_at) AS at
              FROM finshard.transactions t
             WHERE t.transaction_type IN ('trade_buy', 'trade_sell', 'fee')
             GROUP BY t.account_id, t.trade_id, t.transaction_type
        )
        SELECT coalesce(e.account_id, a.account_id), e.currency, 'trade_leg'::text,
               CASE WHEN a.account_id IS NULL
                        THEN format('trade %s: no %s entry of %s', e.trade_id, e.kind, e.amount)
                    WHEN e.account_id IS NULL
                        THEN format('trade %s: %s entry of %s, but no such trade on this account',
                                    coalesce(a.trade_id::text, 'NULL'), a.kind, a.amount)
                    ELSE format('trade %s: %s %s entries totalling %s, one of %s due', e.trade_id, a.legs, e.kind,
                                a.amount, e.amount) END
          FROM expected e
          FULL JOIN actual a ON a.account_id = e.account_id AND a.trade_id = e.trade_id AND a.kind = e.kind
         WHERE (e.account_id IS NULL OR a.account_id IS NULL OR a.legs <> 1
                OR (a.amount IS DISTINCT FROM e.amount AND (a.amount IS DISTINCT FROM e.half_up OR e.at >= v_rounded)))
           AND (v_horizon IS NULL OR (e.account_id IS NOT NULL AND a.account_id IS NOT NULL) OR least(e.at, a.at) >= v_horizon);

    -- Per currency, over every account (house and system included): money enters only by
    -- deposit and leaves by withdraw, trade_buy and fee (paid to the market and to no account
    -- here) and enters again by trade_sell; transfers and fx legs only move it between accounts.
    -- Grouped by the account's currency: an entry in another currency is entry_currency's problem.
    -- Retired months count through what they carried forward.
    RETURN QUERY
        SELECT NULL::bigint, g.currency, 'currency_total'::text,
               format('accounts hold %s; deposits %s - withdrawals %s + trade sales %s - trade purchases %s - fees %s = %s',
                      g.balances, g.deposits, g.withdrawals, g.sales, g.purchases, g.fees,
                      g.deposits - g.withdrawals + g.sales - g.purchases - g.fees)
          FROM (SELECT a.currency, sum(a.balance) AS balances,
                       coalesce(sum(f.deposits), 0) + coalesce(sum(cf.deposits), 0) AS deposits,
                       coalesce(sum(f.withdrawals), 0) + coalesce(sum(cf.withdrawals), 0) AS withdrawals,
                       coalesce(sum(f.sales), 0) + coalesce(sum(cf.sales), 0) AS sales,
                       coalesce(sum(f.purchases), 0) + coalesce(sum(cf.purchases), 0) AS purchases,
                       coalesce(sum(f.fees), 0) + coalesce(sum(cf.fees), 0) AS fees
                  FROM finshard.accounts a
                  LEFT JOIN finshard.carried_forward cf ON cf.account_id = a.account_id
                  LEFT JOIN (SELECT t.account_id,
                                    sum(t.amount) FILTER (WHERE t.transaction_type = 'deposit') AS deposits,
                                    -sum(t.amount) FILTER (WHERE t.transaction_type = 'withdraw') AS withdrawals,
                                    sum(t.amount) FILTER (WHERE t.transaction_type = 'trade_sell') AS sales,
                                    -sum(t.amount) FILTER (WHERE t.transaction_type = 'trade_buy') AS purchases,
                                    -sum(t.amount) FILTER (WHERE t.transaction_type = 'fee') AS fees
                               FROM finshard.transactions t
                              GROUP BY t.account_id) f ON f.account_id = a.account_id
                 GROUP BY a.currency) g
         WHERE g.balances <> g.deposits - g.withdrawals + g.sales - g.purchases - g.fees;
END
$$;
COMMENT ON FUNCTION finshard.ledger_verify() IS 'Checks the whole ledger: per-entry seqs, running balances and currency; per-account sums and last entry; transfer and trade legs; per-currency totals against deposits, withdrawals, trades and fees. One row per problem (check_name, detail naming the values); none when consistent. On Citus each statement reads each shard at its own moment: run it when no money moves, or expect in-flight cross-node transfers to show';
REVOKE ALL ON FUNCTION finshard.ledger_verify() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.ledger_verify() TO finshard_admin, finshard_readonly;
