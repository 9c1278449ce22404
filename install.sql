-- finshard install script for psql: psql -v ON_ERROR_STOP=1 -d DB -f install.sql
-- The one list of SQL files in install order; `finshard install` reads this file too.
-- Re-runnable. On Citus the distribution plan applies; on plain PostgreSQL it is skipped.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

-- 1. tables, one per file
\ir schema/finshard.sql
\ir schema/schema_version.sql
\ir schema/error_codes.sql
\ir schema/currencies.sql
\ir schema/fx_rates.sql
\ir schema/banks.sql
\ir schema/users.sql
\ir schema/accounts.sql
\ir schema/account_keys.sql
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
\ir schema/price_alerts.sql
\ir schema/audit_log.sql

-- 2. partition maintenance functions and the initial partitions (12 months back, 3 ahead)
\ir partitions/partitioned_tables.sql
\ir partitions/partition_name.sql
\ir partitions/create_partitions.sql
\ir partitions/list_partitions.sql
\ir partitions/retire_partitions.sql

-- 3. procedures, one function per file (helpers named _x sort first; SQL-language bodies need them)
\ir procedures/_account_problem.sql
\ir procedures/_active_user.sql
\ir procedures/_audit.sql
\ir procedures/_audit_hash.sql
\ir procedures/_bootstrap.sql
\ir procedures/_cash_movement.sql
\ir procedures/_check_amount.sql
\ir procedures/_check_text.sql
\ir procedures/_idempotency_begin.sql
\ir procedures/_idempotency_finish.sql
\ir procedures/_lock_account.sql
\ir procedures/_move.sql
\ir procedures/_not_null.sql
\ir procedures/_notify.sql
\ir procedures/_post_entry.sql
\ir procedures/_record_failed_login.sql
\ir procedures/_transfer_checks.sql
\ir procedures/add_currency.sql
\ir procedures/authenticate.sql
\ir procedures/balance.sql
\ir procedures/close_account.sql
\ir procedures/create_bank.sql
\ir procedures/create_user.sql
\ir procedures/deactivate_user.sql
\ir procedures/deposit.sql
\ir procedures/fail.sql
\ir procedures/freeze_account.sql
\ir procedures/fx_rate.sql
\ir procedures/open_account.sql
\ir procedures/set_fx_rate.sql
\ir procedures/transfer.sql
\ir procedures/unfreeze_account.sql
\ir procedures/update_user.sql
\ir procedures/withdraw.sql

-- 4. distribution (Citus only), then partitions (Citus gives a partition created after its parent is
--    distributed the parent's constraints), then what depends on distributed tables
\ir schema/distribution.sql
SELECT count(*) AS partitions_created FROM finshard.create_partitions(12, 3) WHERE created;
SELECT finshard._bootstrap();
\ir schema/portfolio_view.sql
\ir schema/grants.sql
