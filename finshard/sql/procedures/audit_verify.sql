CREATE OR REPLACE FUNCTION finshard.audit_verify(p_account_id bigint DEFAULT NULL)
RETURNS TABLE (account_id bigint, audit_seq bigint, problem text)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_horizon timestamptz := (SELECT max(c.audit_through) FROM finshard.carried_forward c) + interval '1 day';
BEGIN
    IF p_account_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM finshard.accounts a WHERE a.account_id = p_account_id) THEN
        PERFORM finshard.fail('FS010', format('account %s does not exist', p_account_id));
    END IF;
    -- Every link: the stored hash is the hash of the entry, prev_hash is the previous entry's
    -- hash, and seqs run 1, 2, 3... Window per account: Citus runs it on each shard. After retired
    -- months the first entry kept follows the last one retired (finshard.carried_forward).
    RETURN QUERY
        SELECT c.account_id, c.audit_seq,
               CASE WHEN c.hash <> finshard._audit_hash(finshard._key('audit'), c.prev_hash, c.account_id, c.audit_seq, c.action, c.details, c.created_at, c.actor, c.on_behalf_of)
                        THEN 'hash does not match the entry (entry altered, or re-hashed without the audit key)'
                    WHEN c.prev_hash <> coalesce(c.lag_hash, '')
                        THEN 'prev_hash does not match the previous entry (entry removed or inserted)'
                    ELSE 'sequence gap (entry removed)' END
          FROM (SELECT l.*, lag(l.hash, 1, coalesce(cf.audit_hash, '')) OVER w AS lag_hash,
                       lag(l.audit_seq, 1, coalesce(cf.audit_seq, 0)) OVER w AS lag_seq
                  FROM finshard.audit_log l
                  LEFT JOIN finshard.carried_forward cf ON cf.account_id = l.account_id
                 WHERE p_account_id IS NULL OR l.account_id = p_account_id
                WINDOW w AS (PARTITION BY l.account_id ORDER BY l.audit_seq)) c
         WHERE c.hash <> finshard._audit_hash(finshard._key('audit'), c.prev_hash, c.account_id, c.audit_seq, c.action, c.details, c.created_at, c.actor, c.on_behalf_of)
            OR c.prev_hash <> coalesce(c.lag_hash, '')
            OR c.audit_seq <> c.lag_seq + 1;
    -- The chain head on the account must be the last entry (or the last one retired): catches
    -- removal of the newest entries.
    RETURN QUERY
        SELECT a.account_id, a.audit_seq, 'account''s chain head does not match its last entry (newest entries removed)'
          FROM finshard.accounts a
          LEFT JOIN finshard.carried_forward cf ON cf.account_id = a.account_id
          LEFT JOIN LATERAL (SELECT l.hash FROM finshard.audit_log l
                              WHERE l.account_id = a.account_id AND l.audit_seq = a.audit_seq) last ON true
         WHERE (p_account_id IS NULL OR a.account_id = p_account_id)
           AND a.audit_seq > 0
           AND coalesce(last.hash, CASE WHEN cf.audit_seq = a.audit_seq THEN cf.audit_hash END) IS DISTINCT FROM a.audit_hash;
    -- What retired months carried forward, under the audit key: where a chain restarts and the
    -- balance the ledger continues from.
    RETURN QUERY
        SELECT cf.account_id, cf.audit_seq, 'carried-forward state does not match its MAC (altered, or written without the audit key)'
          FROM finshard.carried_forward cf
         WHERE (p_account_id IS NULL OR cf.account_id = p_account_id)
           AND cf.mac <> finshard._carry_mac(finshard._key('audit'), cf.account_id, cf.ledger_through, cf.entry_seq, cf.balance,
                                             cf.deposits, cf.withdrawals, cf.sales, cf.purchases, cf.fees, cf.audit_through,
                                             cf.audit_seq, cf.audit_hash);
    -- Users' login chains (finshard.user_audit_log): every link, and each head on its user's row.
    -- They belong to no account: checked when every chain is (account_id NULL, the problem names the user).
    IF p_account_id IS NULL THEN
        RETURN QUERY
            SELECT NULL::bigint, c.audit_seq,
                   format('user %s''s login audit chain: %s', c.user_id,
                          CASE WHEN c.hash <> finshard._user_audit_hash(finshard._key('audit'), c.prev_hash, c.user_id, c.audit_seq, c.action, c.details, c.created_at, c.actor)
                                   THEN 'hash does not match the entry (entry altered, or re-hashed without the audit key)'
                               WHEN c.prev_hash <> coalesce(c.lag_hash, '')
                                   THEN 'prev_hash does not match the previous entry (entry removed or inserted)'
                               ELSE 'sequence gap (entry removed)' END)
              FROM (SELECT l.*, lag(l.hash) OVER w AS lag_hash, lag(l.audit_seq, 1, 0::bigint) OVER w AS lag_seq
                      FROM finshard.user_audit_log l
                    WINDOW w AS (PARTITION BY l.user_id ORDER BY l.audit_seq)) c
             WHERE c.hash <> finshard._user_audit_hash(finshard._key('audit'), c.prev_hash, c.user_id, c.audit_seq, c.action, c.details, c.created_at, c.actor)
                OR c.prev_hash <> coalesce(c.lag_hash, '')
                OR c.audit_seq <> c.lag_seq + 1;
        RETURN QUERY
            SELECT NULL::bigint, u.audit_seq,
                   format('user %s''s login audit chain head does not match its last entry (newest entries removed)', u.user_id)
              FROM finshard.users u
              LEFT JOIN finshard.user_audit_log l ON l.user_id = u.user_id AND l.audit_seq = u.audit_seq
             WHERE u.audit_seq > 0 AND l.hash IS DISTINCT FROM u.audit_hash;
    END IF;
    -- A customer account's chain starts when it is opened: an empty one was cut whole.
    RETURN QUERY
        SELECT a.account_id, 0::bigint, 'customer account without an audit chain (its chain was removed whole)'
          FROM finshard.accounts a
         WHERE (p_account_id IS NULL OR a.account_id = p_account_id)
           AND a.audit_seq = 0 AND a.account_type NOT IN ('house', 'system');
    -- Money that no keyed entry vouches for: whoever can write the tables but has not the key can
    -- make the ledger agree with itself, not with the chain. Every deposit, withdrawal, transfer out
    -- (posted pending transfers included), trade and fee has its account's audit entry, with the
    -- same amount. Audit and ledger are colocated by account: Citus joins them on each shard.
    RETURN QUERY
        SELECT t.account_id, NULL::bigint,
               format('ledger entry %s (%s %s, seq %s) has no audit entry vouching for it (money moved outside finshard)',
                      t.transaction_id, t.transaction_type, t.amount, t.entry_seq)
          FROM finshard.transactions t
         WHERE (p_account_id IS NULL OR t.account_id = p_account_id)
           -- Within a day after the last retired audit month an entry's voucher may have gone with it.
           AND (v_horizon IS NULL OR t.created_at >= v_horizon)
           AND t.transaction_type IN ('deposit', 'withdraw', 'transfer_out', 'trade_buy', 'trade_sell', 'fee')
           AND NOT EXISTS (
               SELECT 1 FROM finshard.audit_log l
                WHERE l.account_id = t.account_id
                  AND CASE t.transaction_type
                          WHEN 'deposit' THEN l.action = 'deposit' AND l.details ->> 'transaction_id' = t.transaction_id::text
                                              AND (l.details ->> 'amount')::numeric = t.amount
                          WHEN 'withdraw' THEN l.action = 'withdraw' AND l.details ->> 'transaction_id' = t.transaction_id::text
                                               AND (l.details ->> 'amount')::numeric = -t.amount
                          WHEN 'transfer_out' THEN l.action IN ('transfer', 'post_pending_transfer')
                                                   AND l.details ->> 'transfer_id' = t.transfer_id::text
                                                   AND (l.details ->> 'amount')::numeric = -t.amount
                          WHEN 'fee' THEN l.action = 'trade' AND l.details ->> 'trade_id' = t.trade_id::text
                                          AND (l.details ->> 'fee')::numeric = -t.amount
                          ELSE l.action = 'trade' AND l.details ->> 'trade_id' = t.trade_id::text
                               AND (l.details ->> 'amount')::numeric = abs(t.amount) END);
END
$$;
COMMENT ON FUNCTION finshard.audit_verify(bigint) IS 'Checks the keyed audit hash chains (one account, or all, the users'' login chains included, whose rows have account_id NULL and name the user): returns one row per broken link and per ledger entry that no audit entry vouches for, none when intact. Raises FS010, FS090';
REVOKE ALL ON FUNCTION finshard.audit_verify(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.audit_verify(bigint) TO finshard_admin, finshard_readonly;
