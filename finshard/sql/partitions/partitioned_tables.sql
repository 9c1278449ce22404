CREATE OR REPLACE FUNCTION finshard.partitioned_tables()
RETURNS TABLE (table_name regclass, time_column text, retention interval)
LANGUAGE sql STABLE
AS $$
    -- Retention: the ledger, orders, trades and the audit log are books and records (kept 7
    -- years); market data and notifications are operational.
    SELECT t.table_name::regclass, t.time_column, t.retention
      FROM (VALUES ('finshard.transactions',  'created_at',  interval '7 years'),
                   ('finshard.orders',        'created_at',  interval '7 years'),
                   ('finshard.trades',        'executed_at', interval '7 years'),
                   ('finshard.audit_log',     'created_at',  interval '7 years'),
                   ('finshard.quotes',        'quoted_at',   interval '13 months'),
                   ('finshard.market_data',   'bucket',      interval '5 years'),
                   ('finshard.notifications', 'created_at',  interval '13 months'))
           AS t (table_name, time_column, retention);
$$;
COMMENT ON FUNCTION finshard.partitioned_tables() IS 'The time-partitioned tables, their partition column and retention';
REVOKE ALL ON FUNCTION finshard.partitioned_tables() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.partitioned_tables() TO finshard_admin, finshard_readonly;
