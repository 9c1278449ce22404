CREATE OR REPLACE FUNCTION finshard._transfer_one_statement(p_from_account_id bigint,
                                                            p_to_account_id bigint,
                                                            p_amount numeric,
                                                            p_transfer_id bigint,
                                                            p_description text,
                                                            p_idempotency_key text,
                                                            OUT applied boolean,
                                                            OUT from_balance numeric,
                                                            OUT to_balance numeric)
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
DECLARE
    -- Read here, not in the statement: the same instant for the entries and the audit link.
    v_clock timestamptz := clock_timestamp();
    v_ids   bigint[];
    v_moved  bigint;
    v_failed bigint;
BEGIN
    -- A same-currency transfer on one node as one statement, its argument checks included: every
    -- statement of a PL/pgSQL function pays executor start-up, a snapshot and plan revalidation,
    -- and this one replaces nine. It writes exactly the rows the per-leg path (_move) writes, and
    -- only when every rule holds; otherwise it writes nothing and returns applied = false, and
    -- transfer runs the checks and _move, which raise the reason or convert across currencies.
    -- Citus plans a modifying CTE over two shards through intermediate results, so it keeps the
    -- per-leg path.
    v_ids := ARRAY[nextval('finshard.notifications_notification_id_seq'), nextval('finshard.notifications_notification_id_seq')];
    -- One UPDATE moves both balances. The rules are judged twice: on both rows together, from the
    -- statement's snapshot (the EXISTS, a join evaluated once: two distinct accounts that exist,
    -- are active customer accounts in one currency whose decimals the amount fits, the source has
    -- the funds), so that a transfer that cannot apply writes nothing; and on each row as it is
    -- locked (the row guards), because a concurrent change may have come in between (an account's
    -- currency never changes). The amount's own checks hold for both rows or for neither. The
    -- index scan over the two ids locks them in ascending id order, the lock order of every
    -- movement: the function turns off sequential and bitmap scans, which would lock them in heap
    -- order.
    WITH u AS (
        UPDATE finshard.accounts a
           SET balance = a.balance + CASE WHEN a.account_id = p_from_account_id THEN -p_amount ELSE p_amount END,
               entry_seq = a.entry_seq + 1,
               -- _next_instant's rule, inlined: on one node (no Citus) a STABLE expression is allowed.
               last_entry_at = greatest(v_clock, a.last_entry_at + interval '1 microsecond'),
               updated_at = v_clock,
               audit_seq = a.audit_seq + (a.account_id = p_from_account_id)::integer,
               audit_prev_hash = CASE WHEN a.account_id = p_from_account_id THEN a.audit_hash ELSE a.audit_prev_hash END,
               audit_hash = CASE WHEN a.account_id = p_from_account_id
                                 THEN finshard._audit_hash(a.audit_hash, a.account_id, a.audit_seq + 1, 'transfer',
                                                           finshard._transfer_audit(p_transfer_id, p_to_account_id, p_amount,
                                                                                    a.currency, p_idempotency_key),
                                                           v_clock)
                                 ELSE a.audit_hash END
         WHERE a.account_id IN (p_from_account_id, p_to_account_id)
           AND a.status = 'active' AND a.account_type NOT IN ('house', 'system')
           AND (a.account_id <> p_from_account_id OR a.balance - p_amount >= a.reserved)
           AND EXISTS (SELECT FROM finshard.accounts f
                             JOIN finshard.accounts t ON t.account_id = p_to_account_id AND t.currency = f.currency
                             JOIN finshard.currencies m ON m.code = f.currency
                            WHERE f.account_id = p_from_account_id AND p_from_account_id <> p_to_account_id
                              AND f.status = 'active' AND t.status = 'active'
                              AND f.account_type NOT IN ('house', 'system') AND t.account_type NOT IN ('house', 'system')
                              AND f.balance - p_amount >= f.reserved AND p_amount = round(p_amount, m.minor_units))
           AND p_amount > 0 AND p_amount < 1e18 AND coalesce(length(p_description), 0) <= 500
        RETURNING a.account_id, a.user_id, a.currency, a.balance, a.entry_seq, a.last_entry_at, a.audit_seq,
                  a.audit_prev_hash, a.audit_hash
    ), entries AS (
        INSERT INTO finshard.transactions (account_id, entry_seq, transaction_type, amount, balance_after, currency,
                                           transfer_id, counterparty_account_id, description, created_at)
        SELECT u.account_id, u.entry_seq,
               CASE WHEN u.account_id = p_from_account_id THEN 'transfer_out' ELSE 'transfer_in' END::finshard.entry_type,
               CASE WHEN u.account_id = p_from_account_id THEN -p_amount ELSE p_amount END, u.balance, u.currency,
               p_transfer_id, CASE WHEN u.account_id = p_from_account_id THEN p_to_account_id ELSE p_from_account_id END,
               p_description, u.last_entry_at
          FROM u
    ), audit AS (
        INSERT INTO finshard.audit_log (account_id, audit_seq, action, details, created_at, prev_hash, hash)
        SELECT u.account_id, u.audit_seq, 'transfer',
               finshard._transfer_audit(p_transfer_id, p_to_account_id, p_amount, u.currency, p_idempotency_key),
               v_clock, u.audit_prev_hash, u.audit_hash
          FROM u
         WHERE u.account_id = p_from_account_id
    ), msgs AS (
        SELECT u.account_id, v_ids[1 + (u.account_id = p_to_account_id)::integer] AS notification_id, u.user_id,
               CASE WHEN u.account_id = p_from_account_id THEN 'transfer_success' ELSE 'credited' END::finshard.notification_kind
                 AS kind,
               finshard._transfer_message(u.account_id = p_from_account_id, p_transfer_id, p_amount, u.currency,
                                          CASE WHEN u.account_id = p_from_account_id THEN p_to_account_id ELSE p_from_account_id END)
                 AS message,
               jsonb_build_object('transfer_id', p_transfer_id, 'amount', p_amount, 'currency', u.currency)
                 || CASE WHEN u.account_id = p_from_account_id THEN jsonb_build_object('balance', u.balance) ELSE '{}' END
                 AS payload,
               now() AS created_at,
               -- Whether to send now: _notify_now's rule, inlined (a dispatcher registered on this
               -- node: queue for it). Uncorrelated, so evaluated once for both rows.
               (SELECT CASE coalesce((SELECT s.value FROM finshard.settings s WHERE s.key = 'notify_delivery'), 'auto')
                            WHEN 'immediate' THEN true
                            WHEN 'deferred' THEN false
                            ELSE pg_try_advisory_xact_lock_shared(finshard._dispatcher_key()) END) AS send_now
          FROM u
    ), notes AS (
        -- Sent now: stored here, and signalled by the RETURNING.
        INSERT INTO finshard.notifications (account_id, notification_id, user_id, kind, message, payload, created_at)
        SELECT m.account_id, m.notification_id, m.user_id, m.kind, m.message, m.payload, m.created_at
          FROM msgs m
         WHERE m.send_now
        -- Signalled here, row by row (a data-modifying WITH runs to the end, RETURNING included,
        -- whether or not anything reads it).
        RETURNING finshard._signal(notification_id, account_id, user_id, kind::text, message, payload)
    ), queued AS (
        -- Not sent now: queued whole; dispatch_notifications() stores and sends them.
        INSERT INTO finshard.notification_outbox (account_id, notification_id, user_id, kind, message, payload, created_at)
        SELECT m.account_id, m.notification_id, m.user_id, m.kind, m.message, m.payload, m.created_at
          FROM msgs m
         WHERE NOT m.send_now
    ), record AS (
        INSERT INTO finshard.transfers (transfer_id, from_account_id, to_account_id, amount, currency, to_amount, to_currency,
                                        status, idempotency_key, description, resolved_at)
        SELECT p_transfer_id, p_from_account_id, p_to_account_id, p_amount, u.currency, p_amount, u.currency,
               'success', p_idempotency_key, p_description, now()
          FROM u
         WHERE u.account_id = p_from_account_id
    )
    -- With immediate delivery the NOTIFYs went out in notes; like the rows, they are undone by an
    -- error (which is also what undoes a half-applied statement, below: no write is conditional on both).
    SELECT count(*),
           max(u.balance) FILTER (WHERE u.account_id = p_from_account_id),
           max(u.balance) FILTER (WHERE u.account_id = p_to_account_id)
      FROM u
      INTO v_moved, from_balance, to_balance;
    IF v_moved = 1 THEN
        -- Both rows passed on the snapshot, but one failed its guard once locked: a concurrent change
        -- committed in between (a debit that took the funds, a freeze). The UPDATE locked that row's
        -- newest version before re-checking it and keeps the lock, so the row read here is the one
        -- that failed, and its reason is raised; the error rolls the half-applied statement back.
        -- FS019 only guards against the checks and the row guards ever disagreeing.
        v_failed := CASE WHEN from_balance IS NULL THEN p_from_account_id ELSE p_to_account_id END;
        PERFORM finshard._account_problem(v_failed, CASE WHEN v_failed = p_from_account_id THEN -p_amount ELSE p_amount END,
                                          p_lock => false);
        PERFORM finshard.fail('FS019', format('account %s changed while transfer %s was applied; nothing was moved',
                                              v_failed, p_transfer_id),
                              'Retry the transfer (with the same idempotency key).');
    END IF;
    applied := v_moved = 2;
END
$$;
COMMENT ON FUNCTION finshard._transfer_one_statement(bigint, bigint, numeric, bigint, text, text) IS 'A same-currency transfer between two active customer accounts on one node (no Citus) in one statement, argument checks included: both entries, the audit entry, both notifications (stored and sent, or queued) and the transfer record; applied = false (nothing written) when a rule does not hold, and the per-leg path then converts or raises the reason';
REVOKE ALL ON FUNCTION finshard._transfer_one_statement(bigint, bigint, numeric, bigint, text, text) FROM PUBLIC;
