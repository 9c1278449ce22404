-- finshard install script for psql: psql -v ON_ERROR_STOP=1 -d DB -f install.sql
-- The one list of SQL files in install order; `finshard install` reads this file too.
-- Re-runnable. On Citus the distribution plan applies; on plain PostgreSQL it is skipped.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

-- Installing these functions over an older finshard's tables would leave code and tables out of
-- step: its migrations run first (finshard upgrade). The level is the highest in migrations/.
DO $$
DECLARE
    v_required constant integer := 5;
    v_level    integer;
BEGIN
    IF to_regclass('finshard.schema_version') IS NULL THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                    WHERE attrelid = 'finshard.schema_version'::regclass AND attname = 'migration' AND NOT attisdropped) THEN
        -- finshard 0.1.x, whether its install was recorded or not (psql recorded none).
        v_level := 0;
    ELSE
        SELECT max(v.migration) INTO v_level FROM finshard.schema_version v HAVING count(*) > 0;
        IF NOT FOUND THEN
            RETURN;  -- the table, but no run finished: nothing to judge
        END IF;
    END IF;
    IF coalesce(v_level, 0) <> v_required THEN
        RAISE EXCEPTION 'this database holds finshard tables of schema level %, and this install is level %', coalesce(v_level, 0), v_required
              USING ERRCODE = 'FS095',
                    HINT = CASE WHEN coalesce(v_level, 0) < v_required THEN 'Run finshard upgrade --dsn DSN: it applies the migrations, then installs.'
                                ELSE 'Install with the finshard that installed them, or a later one.' END;
    END IF;
END $$;

-- 1. domains and tables, one per file
\ir schema/finshard.sql
\ir schema/schema_version.sql
\ir schema/error_codes.sql
\ir schema/account_type.sql
\ir schema/positive_amount.sql
\ir schema/nonnegative_amount.sql
\ir schema/account_status.sql
\ir schema/entry_type.sql
\ir schema/entry_status.sql
\ir schema/transfer_status.sql
\ir schema/notification_kind.sql
\ir schema/settings.sql
\ir schema/currencies.sql
\ir schema/fx_rates.sql
\ir schema/banks.sql
\ir schema/users.sql
\ir schema/accounts.sql
\ir schema/account_keys.sql
\ir schema/sessions.sql
\ir schema/idempotency_keys.sql
\ir schema/transfers.sql
\ir schema/transactions.sql
\ir schema/instruments.sql
\ir schema/quotes.sql
\ir schema/market_data.sql
\ir schema/orders.sql
\ir schema/trades.sql
\ir schema/positions.sql
\ir schema/notifications.sql
\ir schema/notification_outbox.sql
\ir schema/price_alerts.sql
\ir schema/audit_log.sql
\ir schema/user_audit_log.sql
\ir schema/unknown_logins.sql
\ir schema/restore_points.sql
\ir schema/carried_forward.sql

-- 2. partition maintenance functions and the initial partitions (12 months back, 3 ahead, and a DEFAULT
--    partition per table that refuses a row of a missing month with FS071)
\ir partitions/partitioned_tables.sql
\ir partitions/partition_name.sql
\ir partitions/partition_missing.sql
\ir partitions/create_partitions.sql
\ir partitions/list_partitions.sql
\ir partitions/retire_partitions.sql
\ir partitions/compress_partitions.sql
\ir partitions/check_partitions.sql
\ir partitions/set_archive_dir.sql
\ir partitions/restore_archive.sql

-- Helper signatures change between versions; CREATE OR REPLACE would add an overload beside the old
-- one and make calls ambiguous. Helpers are late-bound PL/pgSQL: drop them and create them again
-- (an event trigger's function is replaced in place: the trigger holds on to it).
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = 'finshard'::regnamespace AND p.proname LIKE '\_%'
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger e WHERE e.evtfoid = p.oid)
    LOOP
        EXECUTE format('DROP FUNCTION %s', f);
    END LOOP;
END $$;

-- 3. procedures, one function per file (helpers named _x sort first; SQL-language bodies need them).
--    Public functions are SECURITY DEFINER with a pinned search_path; the _x helpers are not SECURITY
--    DEFINER, run only inside them and inherit that pinned path (a SET clause would cost a GUC
--    save and restore on every call of a hot helper).
\ir procedures/_account_problem.sql
\ir procedures/_active_user.sql
\ir procedures/_archive_dir.sql
\ir procedures/_archive_partition.sql
\ir procedures/_archive_path.sql
\ir procedures/_actor.sql
\ir procedures/_audit.sql
\ir procedures/_audit_actor.sql
\ir procedures/_audit_hash.sql
\ir procedures/_carry_mac.sql
\ir procedures/_carry_forward.sql
\ir procedures/_authorize.sql
\ir procedures/_authorize_user.sql
\ir procedures/_base32.sql
\ir procedures/_bootstrap.sql
\ir procedures/_caller.sql
\ir procedures/_cash_amount.sql
\ir procedures/_cash_movement.sql
\ir procedures/_check_amount.sql
\ir procedures/_check_fx_band.sql
\ir procedures/_check_house_limit.sql
\ir procedures/_check_limit.sql
\ir procedures/_check_period.sql
\ir procedures/_check_quote.sql
\ir procedures/_check_text.sql
\ir procedures/_claim_pending.sql
\ir procedures/_close_order.sql
\ir procedures/_end_order.sql
\ir procedures/_conninfo_quote.sql
\ir procedures/_count_login_attempt.sql
\ir procedures/_credit_leg.sql
\ir procedures/_cron_problem.sql
\ir procedures/_decrypt_pii.sql
\ir procedures/_key_path.sql
\ir procedures/_dispatcher_key.sql
\ir procedures/_encrypt_pii.sql
\ir procedures/_ensure_keys.sql
\ir procedures/_fee.sql
\ir procedures/_fill.sql
\ir procedures/_fire_price_alerts.sql
\ir procedures/_idempotency_begin.sql
\ir procedures/_idempotency_finish.sql
\ir procedures/_instant_after.sql
\ir procedures/_instrument.sql
\ir procedures/_key.sql
\ir procedures/_local_detach.sql
\ir procedures/_local_keeps_shards.sql
\ir procedures/_local_lock.sql
\ir procedures/_local_proof.sql
\ir procedures/_local_shape.sql
\ir procedures/_local_shards.sql
\ir procedures/_lock_account.sql
\ir procedures/_login_attempt.sql
\ir procedures/_loopback.sql
\ir procedures/_match_on_shards.sql
\ir procedures/_match_order.sql
\ir procedures/_match_resting_orders.sql
\ir procedures/_mfa_match.sql
\ir procedures/_move.sql
\ir procedures/_next_instant.sql
\ir procedures/_not_null.sql
\ir procedures/_refuse_call.sql
\ir procedures/_notify.sql
\ir procedures/_notify_now.sql
\ir procedures/_partitions_cover.sql
\ir procedures/_pii_keys.sql
\ir procedures/_post_entry.sql
\ir procedures/_read_manifest.sql
\ir procedures/_recovery_hash.sql
\ir procedures/_row_digest.sql
\ir procedures/_session_user.sql
\ir procedures/_sha256_file.sql
\ir procedures/_signal.sql
\ir procedures/_totp.sql
\ir procedures/_totp_step.sql
\ir procedures/_transfer_audit.sql
\ir procedures/_transfer_checks.sql
\ir procedures/_transfer_message.sql
\ir procedures/_uri_encode.sql
\ir procedures/_user_audit.sql
\ir procedures/_user_audit_detached.sql
\ir procedures/_user_audit_hash.sql
\ir procedures/_validate_order.sql
\ir procedures/_write_key.sql
\ir procedures/account_orders.sql
\ir procedures/account_statement.sql
\ir procedures/account_trades.sql
\ir procedures/add_currency.sql
\ir procedures/audit_verify.sql
\ir procedures/authenticate.sql
\ir procedures/balance.sql
\ir procedures/calculate_position_pnl.sql
\ir procedures/cancel_order.sql
\ir procedures/candles.sql
\ir procedures/close_account.sql
\ir procedures/commission.sql
\ir procedures/replica_lag.sql
\ir procedures/confirm_mfa.sql
\ir procedures/create_bank.sql
\ir procedures/create_instrument.sql
\ir procedures/create_pending_transfer.sql
\ir procedures/create_price_alert.sql
\ir procedures/cancel_price_alert.sql
\ir procedures/create_restore_point.sql
\ir procedures/create_user.sql
\ir procedures/daily_volume.sql
\ir procedures/deactivate_instrument.sql
\ir procedures/deactivate_user.sql
\ir procedures/deposit.sql
\ir procedures/disable_mfa.sql
\ir procedures/dispatch_notifications.sql
\ir procedures/enroll_mfa.sql
\ir procedures/expire_day_orders.sql
\ir procedures/expire_pending_transfers.sql
\ir procedures/fail.sql
\ir procedures/freeze_account.sql
\ir procedures/fx_rate.sql
\ir procedures/ledger_verify.sql
\ir procedures/login.sql
\ir procedures/logout.sql
\ir procedures/match_resting_orders.sql
\ir procedures/most_active_accounts.sql
\ir procedures/new_users_per_day.sql
\ir procedures/notification.sql
\ir procedures/open_account.sql
\ir procedures/place_order.sql
\ir procedures/post_pending_transfer.sql
\ir procedures/record_bar.sql
\ir procedures/register_dispatcher.sql
\ir procedures/reset_mfa.sql
\ir procedures/revoke_sessions.sql
\ir procedures/rotate_pii_key.sql
\ir procedures/search_instruments.sql
\ir procedures/set_fx_rate.sql
\ir procedures/set_house_limit.sql
\ir procedures/set_notify_delivery.sql
\ir procedures/sync_local_shards.sql
\ir procedures/trading_volume.sql
\ir procedures/transfer.sql
-- generated from transfer.sql's one statement, so after it
\ir procedures/_transfer_local.sql
-- generated from _match_order, _transfer_checks and their helpers, so after them
\ir procedures/_match_orders_local.sql
\ir procedures/_transfer_credit_local.sql
\ir procedures/_transfer_cross.sql
\ir procedures/unfreeze_account.sql
\ir procedures/unlock_user.sql
\ir procedures/update_quote.sql
\ir procedures/update_quotes.sql
\ir procedures/update_user.sql
\ir procedures/user_analytics.sql
\ir procedures/user_profile.sql
\ir procedures/void_pending_transfer.sql
\ir procedures/withdraw.sql

-- 3b. scheduled maintenance: the one list of jobs, pg_cron scheduling, status, checks
\ir maintenance/maintenance_jobs.sql
\ir maintenance/check_archiving.sql
\ir maintenance/purge_job_history.sql
\ir maintenance/maintenance_status.sql
\ir maintenance/schedule_maintenance.sql

-- 4. distribution (Citus only), then partitions (Citus gives a partition created after its parent is
--    distributed the parent's constraints), then what depends on distributed tables
\ir schema/api.sql
\ir schema/distribution.sql
SELECT count(*) AS partitions_created FROM finshard.create_partitions(12, 3) WHERE created;
SELECT finshard._bootstrap();
-- Key files in every node's data directory, where missing (docs/security.md).
SELECT finshard._ensure_keys() AS keys_created;
-- On Citus, every node's shards attached to its finshard_local tables (same-node transfers in one statement).
SELECT finshard.sync_local_shards() AS local_shards_attached;
\ir schema/portfolio_view.sql
\ir schema/grants.sql
\ir schema/log_settings.sql
-- pg_cron jobs where pg_cron runs here (finshard maintenance status says why not elsewhere).
SELECT count(*) FILTER (WHERE scheduled) AS maintenance_jobs_scheduled FROM finshard.schedule_maintenance();
-- A psql run records its level here; finshard install records its own row, with the tables' fingerprint.
INSERT INTO finshard.schema_version (version, installed_at, citus, migration)
SELECT '0.2.0', clock_timestamp(), EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus'), 5
 WHERE current_setting('finshard.installer', true) IS DISTINCT FROM 'python';
