-- The distribution plan: applied only where the citus extension is installed, after the tables,
-- their initial partitions and the procedures exist. Re-runnable: each step checks
-- pg_dist_partition / pg_dist_object first. On plain PostgreSQL it does nothing.
DO $plan$
DECLARE
    v_table   text;
    v_column  text;
    v_colocate text;
    v_fn      regprocedure;
    v_arg     text;
    v_comments jsonb;
    v_comment record;
    v_setting text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        RAISE NOTICE 'finshard: citus is not installed here; single node, distribution skipped';
        RETURN;
    END IF;

    -- Citus rebuilds a table it turns into a Citus local table (one that references a new
    -- reference table), and the rebuilt table has lost its comments: keep them by name.
    SELECT jsonb_agg(jsonb_build_object('rel', c.relname, 'col', a.attname, 'text', d.description))
      INTO v_comments
      FROM pg_catalog.pg_description d
      JOIN pg_catalog.pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_catalog.pg_class'::regclass
      LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid AND d.objsubid > 0
     WHERE c.relnamespace = 'finshard'::regnamespace AND c.relkind IN ('r', 'p');

    -- Reference tables first: the distributed tables' foreign keys point at them.
    FOREACH v_table IN ARRAY ARRAY['finshard.error_codes', 'finshard.settings', 'finshard.currencies', 'finshard.fx_rates',
                                   'finshard.banks', 'finshard.users', 'finshard.sessions', 'finshard.instruments',
                                   'finshard.user_audit_log', 'finshard.unknown_logins']
    LOOP
        -- A table with a foreign key to a reference table may already be a Citus local table
        -- (partmethod 'n', not replicated to all nodes): that is not yet what the plan wants.
        IF NOT EXISTS (SELECT 1 FROM pg_dist_partition
                        WHERE logicalrelid = v_table::regclass AND partmethod = 'n' AND repmodel = 't') THEN
            PERFORM create_reference_table(v_table);
        END IF;
    END LOOP;

    -- Foreign keys between two not-yet-distributed tables block create_distributed_table, so the
    -- account foreign keys are lifted here and put back below, once both sides are colocated.
    IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'finshard.accounts'::regclass AND partmethod = 'h') THEN
        ALTER TABLE finshard.positions DROP CONSTRAINT IF EXISTS positions_account_id_fkey;
        ALTER TABLE finshard.price_alerts DROP CONSTRAINT IF EXISTS price_alerts_account_id_fkey;
    END IF;

    -- A table a later finshard adds to a distributed cluster: its shards are made over one
    -- connection per node, or Citus refuses this transaction's function commands after them.
    IF EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'finshard.accounts'::regclass AND partmethod = 'h') THEN
        PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
    END IF;
    -- accounts anchors the colocation group; everything an account owns follows it.
    FOR v_table, v_column, v_colocate IN
        VALUES ('finshard.accounts',         'account_id',      'default'),
               ('finshard.account_keys',     'user_id',         'finshard.accounts'),
               ('finshard.idempotency_keys', 'account_id',      'finshard.accounts'),
               ('finshard.transfers',        'from_account_id', 'finshard.accounts'),
               ('finshard.transactions',     'account_id',      'finshard.accounts'),
               ('finshard.orders',           'account_id',      'finshard.accounts'),
               ('finshard.trades',           'account_id',      'finshard.accounts'),
               ('finshard.positions',        'account_id',      'finshard.accounts'),
               ('finshard.notifications',    'account_id',      'finshard.accounts'),
               ('finshard.notification_outbox', 'account_id',   'finshard.accounts'),
               ('finshard.price_alerts',     'account_id',      'finshard.accounts'),
               ('finshard.audit_log',        'account_id',      'finshard.accounts'),
               ('finshard.carried_forward',  'account_id',      'finshard.accounts'),
               -- Market data is per instrument: its own colocation group.
               ('finshard.quotes',           'instrument_id',   'none'),
               ('finshard.market_data',      'instrument_id',   'finshard.quotes')
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = v_table::regclass AND partmethod = 'h') THEN
            PERFORM create_distributed_table(v_table, v_column, colocate_with => v_colocate);
        END IF;
    END LOOP;

    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'positions_account_id_fkey') THEN
        ALTER TABLE finshard.positions ADD CONSTRAINT positions_account_id_fkey
            FOREIGN KEY (account_id) REFERENCES finshard.accounts (account_id);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'price_alerts_account_id_fkey') THEN
        ALTER TABLE finshard.price_alerts ADD CONSTRAINT price_alerts_account_id_fkey
            FOREIGN KEY (account_id) REFERENCES finshard.accounts (account_id);
    END IF;

    -- Account-scoped functions run on the worker holding the account (delegation), as finshard.api
    -- names them, when called outside a transaction block (autocommit). Not forced inside one
    -- (force_delegation): Citus sends a delegated call over a connection of the calling login,
    -- while a call run on the coordinator writes as the functions' owner, and Citus refuses a
    -- block whose placements two users wrote (25001): deposit then transfer, for any login but
    -- the owner. Inside a block every call runs on the coordinator, as the owner.
    FOR v_fn, v_arg IN
        SELECT a.signature, 'p_' || a.route_by
          FROM finshard.api a
         WHERE a.route_by IS NOT NULL
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_dist_object
                        WHERE classid = 'pg_proc'::regclass AND objid = v_fn::oid
                          AND distribution_argument_index IS NOT NULL AND NOT coalesce(force_delegation, false)) THEN
            PERFORM create_distributed_function(v_fn, v_arg, colocate_with => 'finshard.accounts',
                                                force_delegation => false);
        END IF;
    END LOOP;

    -- A cross-node transfer's credit leg: _transfer_cross calls it inside its transaction, and
    -- Citus sends such a call to the account's node as a write (two-phase commit) only when it
    -- may force delegation.
    IF NOT EXISTS (SELECT 1 FROM pg_dist_object
                    WHERE classid = 'pg_proc'::regclass
                      AND objid = 'finshard._transfer_credit_local(bigint,numeric,text,bigint,bigint,text,bigint,boolean)'::regprocedure
                      AND distribution_argument_index IS NOT NULL) THEN
        PERFORM create_distributed_function('finshard._transfer_credit_local(bigint,numeric,text,bigint,bigint,text,bigint,boolean)',
                                            'p_account_id', colocate_with => 'finshard.accounts', force_delegation => true);
    END IF;

    -- Custom plans for every statement the public functions run (the setting holds for the
    -- helpers they call). Citus 13.2 caches the local plan of a generic, deferred-pruning shard
    -- statement but never finds it again (Citus pull request 8824): each call plans the statement
    -- anew and keeps the plan, about 0.4 MB per transfer in a long-lived session (measured:
    -- 1000 transfers took one worker backend from 5 MB to 453 MB). PL/pgSQL switches to generic
    -- plans after five calls; with custom plans nothing is cached, memory stays flat, and the
    -- speed is the same (the statement was planned every time anyway). Plain PostgreSQL keeps its
    -- generic plans: this step runs only with Citus.
    -- And Citus' citus.function_opens_transaction_block pinned on for them: with it off (any role
    -- may SET it), Citus would commit each remote write of a call by itself, so a transfer whose
    -- credit went first and whose debit then failed would leave the credit.
    FOR v_fn, v_setting IN
        SELECT p.oid::regprocedure, s.setting
          FROM pg_catalog.pg_proc p
         CROSS JOIN (VALUES ('plan_cache_mode=force_custom_plan'), ('citus.function_opens_transaction_block=on')) s (setting)
         WHERE p.pronamespace = 'finshard'::regnamespace
           -- SECURITY DEFINER ones in SQL too (deposit, withdraw): their PL/pgSQL helpers inherit it.
           AND (p.prosecdef OR p.prolang = (SELECT l.oid FROM pg_catalog.pg_language l WHERE l.lanname = 'plpgsql'))
           AND p.prokind = 'f'
           AND p.proname NOT LIKE '\_%'
           AND NOT coalesce(s.setting = ANY (p.proconfig), false)
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET %s = %s', v_fn, split_part(v_setting, '=', 1), split_part(v_setting, '=', 2));
    END LOOP;

    FOR v_comment IN SELECT * FROM jsonb_to_recordset(coalesce(v_comments, '[]')) AS x(rel text, col text, text text)
    LOOP
        IF v_comment.col IS NULL THEN
            EXECUTE format('COMMENT ON TABLE finshard.%I IS %L', v_comment.rel, v_comment.text);
        ELSE
            EXECUTE format('COMMENT ON COLUMN finshard.%I.%I IS %L', v_comment.rel, v_comment.col, v_comment.text);
        END IF;
    END LOOP;
END
$plan$;
