CREATE OR REPLACE FUNCTION finshard.transfer(p_from_account_id bigint,
                                             p_to_account_id bigint,
                                             p_amount numeric,
                                             p_idempotency_key text DEFAULT NULL,
                                             p_description text DEFAULT NULL,
                                             p_session text DEFAULT NULL,
                                             OUT transfer_id bigint,
                                             OUT from_balance numeric,
                                             OUT to_balance numeric,
                                             OUT to_amount numeric,
                                             OUT fx_rate numeric)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- The one-statement path below locks both accounts through accounts_pkey (see there). Set here,
-- not on a helper of its own: a PL/pgSQL call with SET clauses cost 2.3% of a transfer's
-- instructions. The per-leg path looks rows up by key anyway.
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
DECLARE
    v_checks   record;
    v_currency text;
    v_replay   jsonb;
    v_move     record;
    v_applied  boolean := false;
    v_clock    timestamptz;  -- the same instant for the entries and the audit link
    v_ids      bigint[];     -- the two notifications' ids
    v_moved    bigint;       -- accounts the one statement updated
    v_failed   bigint;
    v_authorized boolean := false;
    v_user     bigint;       -- the end user of p_session, when it is live
    v_here     record;       -- the one statement on this Citus node's shards
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('transfer');
    END IF;
    IF p_idempotency_key IS NOT NULL THEN
        -- Who may do this, for whom (docs/roles.md), before a replay could answer a stranger: on the
        -- row the checks read anyway.
        v_checks := finshard._transfer_checks(p_from_account_id, p_to_account_id, p_amount, p_description, true, p_session);
        v_user := v_checks.user_id;
        v_authorized := true;
        v_currency := v_checks.currency;
        v_replay := finshard._idempotency_begin(p_from_account_id, p_idempotency_key, 'transfer',
                        jsonb_build_object('to', p_to_account_id, 'amount', p_amount, 'description', p_description));
        IF v_replay IS NOT NULL THEN
            SELECT r.transfer_id, r.from_balance, r.to_balance, r.to_amount, r.fx_rate
              INTO transfer_id, from_balance, to_balance, to_amount, fx_rate
              FROM jsonb_to_record(v_replay) AS r (transfer_id bigint, from_balance numeric, to_balance numeric,
                                                   to_amount numeric, fx_rate numeric);
            RETURN;
        END IF;
    END IF;
    transfer_id := nextval('finshard.transfers_transfer_id_seq');
    -- On one node (no Citus) a same-currency transfer is one statement, its checks included: every
    -- statement of a PL/pgSQL function pays executor start-up, a snapshot and plan revalidation,
    -- and this one replaces nine. It writes exactly the rows the per-leg path (_move) writes, and
    -- only when every rule holds; otherwise it writes nothing, and the checks and the per-leg path
    -- below raise the reason or convert across currencies. On Citus the same statement runs on the
    -- node's own shards when both accounts are there (_transfer_local); when the destination is on
    -- another node, each leg runs on its node's shards, with one call there (_transfer_cross);
    -- otherwise the per-leg path does it. SET finshard.one_statement_transfer = off sends every
    -- transfer down the per-leg path.
    IF coalesce(current_setting('finshard.one_statement_transfer', true), '') <> 'off'
       -- An amount numeric(22,4) cannot hold fails the statement's planning (22003, constants
       -- folded into its columns): the per-leg path raises the reason (FS002, FS004).
       AND abs(p_amount) < 1e17
       -- Without a session, only a finshard_admin role acts as itself; others take the path that says why.
       AND (p_session IS NOT NULL OR pg_catalog.pg_has_role(finshard._actor(), 'finshard_admin', 'MEMBER')) THEN
        IF p_session IS NOT NULL AND NOT v_authorized THEN
            -- _caller's lookup, inlined: no row (a forged, expired or revoked token) leaves v_user NULL,
            -- the one statement then applies nothing, and _authorize below raises the reason. Logout,
            -- a new password and deactivation all revoke, so a live session's user is active.
            SELECT s.user_id INTO v_user FROM finshard.sessions s
             WHERE s.token_hash = pg_catalog.sha256(pg_catalog.convert_to(p_session, 'UTF8'))
               AND s.revoked_at IS NULL AND s.expires_at > now();
        END IF;
        v_clock := clock_timestamp();
        v_ids := ARRAY[nextval('finshard.notifications_notification_id_seq'), nextval('finshard.notifications_notification_id_seq')];
        -- One UPDATE moves both balances. The rules are judged twice: on both rows together, from the
        -- statement's snapshot (chk, a join evaluated once: two distinct accounts that exist, are
        -- active customer accounts in one currency whose decimals the amount fits, the source has
        -- the funds; no row when one fails, so nothing is updated), so that a transfer that cannot
        -- apply writes nothing; and on each row as it is locked (the row guards), because a
        -- concurrent change may have come in between (an account's currency never changes). The
        -- amount's own checks hold for both rows or for neither. chk also builds the audit details
        -- once, for the hash and for the entry (OFFSET 0 keeps it a subquery, so that they are not
        -- built again where they are used). The index scan over the two ids locks them in ascending
        -- id order, the lock order of every movement: the function turns off sequential and bitmap
        -- scans, which would lock them in heap order. The /*on shards: ...*/ terms are Citus' shard
        -- key: _transfer_local's copy, on tables partitioned by it, keeps them so that each scan looks
        -- in the account's shard only; here they would cost a fifth of the statement.
        IF current_setting('citus.version', true) IS NOT NULL THEN
            -- This statement, generated from the text below onto this node's shards, when both
            -- accounts are here; no row moved (NULL) otherwise.
            v_here := finshard._transfer_local(p_from_account_id, p_to_account_id, p_amount, p_idempotency_key,
                                               p_description, p_session, v_user, v_clock, v_ids, transfer_id);
            IF v_here.v_moved IS NULL AND (p_session IS NULL OR v_user IS NOT NULL) THEN
                -- The destination on another node: each leg on its node's shards, one call there.
                -- A query, not an expression: Citus sends that call inside this transaction as a
                -- write only when it sees a function running in an executor.
                SELECT c.* INTO v_here
                  FROM finshard._transfer_cross(p_from_account_id, p_to_account_id, p_amount, p_idempotency_key,
                                                p_description, p_session, v_ids, transfer_id) c;
            END IF;
            v_moved := v_here.v_moved;
            from_balance := v_here.from_balance;
            to_balance := v_here.to_balance;
        ELSE
        -- finshard: the one statement begins (_transfer_local.sql copies it from here)
        WITH u AS (
            UPDATE finshard.accounts a
               SET balance = a.balance + CASE WHEN a.account_id = p_from_account_id THEN -p_amount ELSE p_amount END,
                   entry_seq = a.entry_seq + 1,
                   -- _next_instant's rule, inlined: on plain tables (not Citus') a STABLE expression is allowed.
                   last_entry_at = greatest(v_clock, a.last_entry_at + interval '1 microsecond'),
                   updated_at = v_clock,
                   audit_seq = a.audit_seq + (a.account_id = p_from_account_id)::integer,
                   audit_prev_hash = CASE WHEN a.account_id = p_from_account_id THEN a.audit_hash ELSE a.audit_prev_hash END,
                   audit_hash = CASE WHEN a.account_id = p_from_account_id
                                     THEN finshard._audit_hash(finshard._key('audit'), a.audit_hash, a.account_id,
                                                               a.audit_seq + 1, 'transfer', chk.details, v_clock,
                                                               chk.actor, chk.on_behalf_of)
                                     ELSE a.audit_hash END
              FROM (SELECT finshard._transfer_audit(transfer_id, p_to_account_id, p_amount, f.currency, p_idempotency_key)
                             AS details,
                           finshard._audit_actor() AS actor,
                           v_user AS on_behalf_of
                      FROM finshard.accounts f
                      JOIN finshard.accounts t ON t.account_id = p_to_account_id AND t.currency = f.currency
                      JOIN finshard.currencies m ON m.code = f.currency
                     WHERE f.account_id = p_from_account_id AND p_from_account_id <> p_to_account_id
                       /*on shards: AND hashint8(f.account_id) = hashint8(p_from_account_id)
                                    AND hashint8(t.account_id) = hashint8(p_to_account_id) */
                       -- _authorize's rules, inlined: an active owner, acting through a live session
                       -- of theirs, or a finshard_admin role acting as itself (checked above).
                       AND f.owner_active AND (p_session IS NULL OR f.user_id = v_user)
                       AND f.status = 'active' AND t.status = 'active'
                       AND f.account_type NOT IN ('house', 'system') AND t.account_type NOT IN ('house', 'system')
                       AND f.balance - p_amount >= f.reserved AND p_amount = round(p_amount, m.minor_units)
                       -- numeric(22,4) holds less than 1e18: beyond, the per-leg path raises FS004.
                       AND t.balance + p_amount < 1e18
                    OFFSET 0) chk
             WHERE a.account_id IN (p_from_account_id, p_to_account_id)
               /*on shards: AND hashint8(a.account_id) IN (hashint8(p_from_account_id), hashint8(p_to_account_id)) */
               AND a.status = 'active' AND a.account_type NOT IN ('house', 'system')
               AND (a.account_id <> p_from_account_id OR a.balance - p_amount >= a.reserved)
               AND p_amount > 0 AND p_amount < 1e18 AND coalesce(length(p_description), 0) <= 500
            RETURNING a.account_id, a.user_id, a.currency, a.balance, a.entry_seq, a.last_entry_at, a.audit_seq,
                      a.audit_prev_hash, a.audit_hash, chk.details, chk.actor, chk.on_behalf_of
        ), entries AS (
            INSERT INTO finshard.transactions (account_id, entry_seq, transaction_type, amount, balance_after, currency,
                                               transfer_id, counterparty_account_id, description, created_at)
            SELECT u.account_id, u.entry_seq,
                   CASE WHEN u.account_id = p_from_account_id THEN 'transfer_out' ELSE 'transfer_in' END::finshard.entry_type,
                   CASE WHEN u.account_id = p_from_account_id THEN -p_amount ELSE p_amount END, u.balance, u.currency,
                   transfer_id, CASE WHEN u.account_id = p_from_account_id THEN p_to_account_id ELSE p_from_account_id END,
                   p_description, u.last_entry_at
              FROM u
        ), audit AS (
            INSERT INTO finshard.audit_log (account_id, audit_seq, action, details, created_at, prev_hash, hash, actor,
                                            on_behalf_of)
            SELECT u.account_id, u.audit_seq, 'transfer',
                   u.details,
                   v_clock, u.audit_prev_hash, u.audit_hash, u.actor, u.on_behalf_of
              FROM u
             WHERE u.account_id = p_from_account_id
        ), msgs AS (
            SELECT u.account_id, v_ids[1 + (u.account_id = p_to_account_id)::integer] AS notification_id, u.user_id,
                   CASE WHEN u.account_id = p_from_account_id THEN 'transfer_success' ELSE 'credited' END::finshard.notification_kind
                     AS kind,
                   finshard._transfer_message(u.account_id = p_from_account_id, transfer_id, p_amount, u.currency,
                                              CASE WHEN u.account_id = p_from_account_id THEN p_to_account_id ELSE p_from_account_id END)
                     AS message,
                   CASE WHEN u.account_id = p_from_account_id
                        THEN jsonb_build_object('transfer_id', transfer_id, 'amount', p_amount, 'currency', u.currency,
                                                'balance', u.balance)
                        ELSE jsonb_build_object('transfer_id', transfer_id, 'amount', p_amount, 'currency', u.currency) END
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
            RETURNING finshard._signal(notification_id, account_id, user_id, kind::text)
        ), queued AS (
            -- Not sent now: queued whole; dispatch_notifications() stores and sends them.
            INSERT INTO finshard.notification_outbox (account_id, notification_id, user_id, kind, message, payload, created_at)
            SELECT m.account_id, m.notification_id, m.user_id, m.kind, m.message, m.payload, m.created_at
              FROM msgs m
             WHERE NOT m.send_now
        /*on shards: ), kept AS (
            -- On Citus also stored when queued (_notify's rule there: a worker's part of a multi-node transaction queues too).
            INSERT INTO finshard.notifications (account_id, notification_id, user_id, kind, message, payload, created_at)
            SELECT m.account_id, m.notification_id, m.user_id, m.kind, m.message, m.payload, m.created_at
              FROM msgs m
             WHERE NOT m.send_now */
        ), record AS (
            INSERT INTO finshard.transfers (transfer_id, from_account_id, to_account_id, amount, currency, to_amount, to_currency,
                                            status, idempotency_key, description, resolved_at)
            SELECT transfer_id, p_from_account_id, p_to_account_id, p_amount, u.currency, p_amount, u.currency,
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
        -- finshard: the one statement ends
        END IF;
        IF v_moved = 1 THEN
            -- Both rows passed on the snapshot, but one failed its guard once locked: a concurrent change
            -- committed in between (a debit that took the funds, a freeze). The UPDATE locked that row's
            -- newest version before re-checking it and keeps the lock, so the row read here is the one
            -- that failed, and its reason is raised; the error rolls the half-applied statement back.
            -- FS007 (transient: the router retries it) only if the checks and the row guards disagree.
            v_failed := CASE WHEN from_balance IS NULL THEN p_from_account_id ELSE p_to_account_id END;
            PERFORM finshard._account_problem(v_failed, CASE WHEN v_failed = p_from_account_id THEN -p_amount ELSE p_amount END,
                                              p_lock => false);
            PERFORM finshard.fail('FS007', format('account %s changed while transfer %s was applied; nothing was moved',
                                                  v_failed, transfer_id),
                                  'Retry the transfer (with the same idempotency key).');
        END IF;
        v_applied := v_moved = 2;
    END IF;
    IF v_applied THEN
        to_amount := p_amount;
    ELSE
        -- Not applied in one statement: the reason may be the caller's, or a rule; both raised here.
        IF NOT v_authorized THEN
            v_checks := finshard._transfer_checks(p_from_account_id, p_to_account_id, p_amount, p_description, true, p_session);
        END IF;
        v_currency := v_checks.currency;
        -- Both legs in this one transaction: on Citus, when the accounts are on two nodes, the
        -- worker running this delegated call commits both with two-phase commit; either both land
        -- or neither. The audit entry rides on the debit (the conversion is in the transfer record).
        -- A query, not an expression, as for _transfer_cross: called through the protocol's
        -- function call, no executor would run, and Citus would commit each remote leg by itself.
        SELECT m.* INTO v_move
          FROM finshard._move(p_from_account_id, p_to_account_id, p_amount, transfer_id, p_description, 0, v_currency,
                              'transfer', finshard._transfer_audit(transfer_id, p_to_account_id, p_amount, v_currency,
                                                                   p_idempotency_key),
                              v_checks.notify_delivery) m;
        from_balance := v_move.from_balance;
        to_balance := v_move.to_balance;
        to_amount := v_move.to_amount;
        fx_rate := v_move.fx_rate;
        INSERT INTO finshard.transfers (transfer_id, from_account_id, to_account_id, amount, currency, to_amount, to_currency,
                                        fx_rate, status, idempotency_key, description, resolved_at)
        VALUES (transfer_id, p_from_account_id, p_to_account_id, p_amount, v_currency, to_amount, v_move.to_currency,
                fx_rate, 'success', p_idempotency_key, p_description, now());
    END IF;
    IF p_idempotency_key IS NOT NULL THEN
        PERFORM finshard._idempotency_finish(p_from_account_id, p_idempotency_key,
            jsonb_build_object('transfer_id', transfer_id, 'from_balance', from_balance, 'to_balance', to_balance,
                               'to_amount', to_amount, 'fx_rate', fx_rate));
    END IF;
END
$$;
COMMENT ON FUNCTION finshard.transfer(bigint, bigint, numeric, text, text, text) IS 'Moves p_amount (source currency) to another account atomically, converting at the fx rate in force when currencies differ; returns transfer_id, both new balances, the credited amount and the rate. Idempotent with p_idempotency_key (scoped to the source account). Acts for p_session''s end user, the source''s owner (docs/roles.md). Raises FS001-FS007, FS010-FS014, FS017-FS019, FS021, FS030, FS081-FS085, FS088';
REVOKE ALL ON FUNCTION finshard.transfer(bigint, bigint, numeric, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.transfer(bigint, bigint, numeric, text, text, text) TO finshard_app, finshard_admin;
