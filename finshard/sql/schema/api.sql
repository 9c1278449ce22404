-- The public interface, read from the catalog: one row per public function (schema finshard, no
-- leading underscore). The distribution plan registers delegated functions from it, and
-- tools/generate_api.py writes the routers' typed methods and the error classes from it.
-- Dropped and made again: nothing depends on it, and CREATE OR REPLACE cannot reshape its columns.
DROP VIEW IF EXISTS finshard.api;
CREATE VIEW finshard.api AS
WITH fn AS (
    SELECT p.oid, p.proname, p.proretset, p.prorettype, p.provolatile, p.pronargs, p.pronargdefaults,
           p.proargnames, p.proargtypes, p.proallargtypes, p.proargmodes
      FROM pg_catalog.pg_proc p
     WHERE p.pronamespace = 'finshard'::regnamespace AND p.prokind = 'f' AND p.proname !~ '^_'
), arg AS (
    -- Input parameters in order, named without p_; the last pronargdefaults have defaults.
    SELECT fn.oid, i AS ord, substr(fn.proargnames[i], 3) AS name,
           replace(format_type(fn.proargtypes[i - 1], NULL), 'timestamp with time zone', 'timestamptz') AS type,
           i <= fn.pronargs - fn.pronargdefaults AS required
      FROM fn, generate_series(1, fn.pronargs) AS i
), out_col AS (
    -- Result columns: OUT and TABLE parameters, or the attributes of a returned composite type.
    SELECT fn.oid, i AS ord, fn.proargnames[i] AS name,
           replace(format_type(fn.proallargtypes[i], NULL), 'timestamp with time zone', 'timestamptz') AS type
      FROM fn, generate_series(1, coalesce(array_length(fn.proallargtypes, 1), 0)) AS i
     WHERE fn.proargmodes[i] IN ('o', 't')
    UNION ALL
    SELECT fn.oid, a.attnum, a.attname::text,
           replace(format_type(a.atttypid, a.atttypmod), 'timestamp with time zone', 'timestamptz')
      FROM fn JOIN pg_catalog.pg_type t ON t.oid = fn.prorettype AND t.typtype = 'c'
      JOIN pg_catalog.pg_attribute a ON a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE fn.proargmodes IS NULL OR NOT ('o' = ANY (fn.proargmodes) OR 't' = ANY (fn.proargmodes))
)
SELECT fn.proname::text AS name,
       fn.oid::regprocedure AS signature,
       coalesce((SELECT jsonb_agg(jsonb_build_object('name', a.name, 'type', a.type, 'required', a.required) ORDER BY a.ord)
                   FROM arg a WHERE a.oid = fn.oid), '[]') AS params,
       CASE WHEN fn.proretset THEN 'rows'
            WHEN fn.prorettype = 'void'::regtype THEN 'void'
            WHEN fn.prorettype = 'record'::regtype
              OR (SELECT t.typtype = 'c' FROM pg_catalog.pg_type t WHERE t.oid = fn.prorettype) THEN 'row'
            ELSE 'scalar' END AS returns,
       replace(format_type(fn.prorettype, NULL), 'timestamp with time zone', 'timestamptz') AS return_type,
       coalesce((SELECT jsonb_agg(jsonb_build_object('name', c.name, 'type', c.type) ORDER BY c.ord)
                   FROM out_col c WHERE c.oid = fn.oid), '[]') AS columns,
       fn.provolatile <> 'v' AS read_only,
       -- The routing argument: the account whose node runs the call (Citus delegates it there).
       CASE WHEN fn.proargnames[1] IN ('p_account_id', 'p_from_account_id') AND fn.proargtypes[0] = 'bigint'::regtype
            THEN substr(fn.proargnames[1], 3) END AS route_by,
       CASE WHEN 'p_idempotency_key' = ANY (fn.proargnames[1:fn.pronargs]) THEN 'idempotency_key' END AS idempotency_key,
       ARRAY(SELECT r FROM unnest(ARRAY['finshard_app', 'finshard_market', 'finshard_admin', 'finshard_readonly']) r
              WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r)
                AND has_function_privilege(r, fn.oid, 'EXECUTE')) AS roles,
       -- The operators' functions: the CLI and pg_cron call them, applications do not, so the
       -- routers have no method for them.
       fn.proname IN ('fail', 'create_partitions', 'list_partitions', 'retire_partitions', 'compress_partitions',
                      'partitioned_tables', 'partition_name', 'set_notify_delivery', 'partition_missing',
                      'check_partitions', 'restore_archive', 'set_archive_dir', 'maintenance_jobs',
                      'maintenance_status', 'schedule_maintenance', 'check_archiving', 'purge_job_history',
                      'create_restore_point', 'register_dispatcher') AS operator_only,
       obj_description(fn.oid, 'pg_proc') AS comment
  FROM fn;
COMMENT ON VIEW finshard.api IS 'finshard''s public functions from the catalog: parameters, result shape and columns, read-only or not, routing argument, roles granted, operator-only or not, COMMENT. The source of the routers'' methods and of the distribution plan';
REVOKE ALL ON finshard.api FROM PUBLIC;
GRANT SELECT ON finshard.api TO finshard_admin;
