-- On Citus, one shard at a time: REVOKE/GRANT ... ON ALL TABLES visit the tables in pg_class's
-- physical order, and once partitions have come and gone that order mixes distributed and
-- reference tables; Citus refuses to change a reference table after a parallel multi-shard
-- command in the same transaction (this file runs as one). A placeholder on plain PostgreSQL.
SELECT set_config('citus.multi_shard_modify_mode', 'sequential', true);
-- Table privileges: applications write only through the SECURITY DEFINER functions (docs/roles.md).
REVOKE ALL ON ALL TABLES IN SCHEMA finshard FROM PUBLIC, finshard_app, finshard_market, finshard_admin, finshard_readonly;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA finshard FROM PUBLIC, finshard_app, finshard_market, finshard_admin, finshard_readonly;
-- Reports read every table but these: credentials and personal data (users: only the columns
-- below), sessions (token hashes), idempotency keys (request parameters), unknown logins (keyed
-- hashes of what was typed as a login).
-- finshard_admin reads the same (its reports, finshard audit verify); personal data through user_profile.
GRANT SELECT ON ALL TABLES IN SCHEMA finshard TO finshard_readonly, finshard_admin;
REVOKE SELECT ON finshard.users, finshard.sessions, finshard.idempotency_keys, finshard.unknown_logins FROM finshard_readonly, finshard_admin;
GRANT SELECT (user_id, username, role, is_active, created_at, updated_at) ON finshard.users TO finshard_readonly, finshard_admin;

-- The notification dispatcher is an advisory lock (register_dispatcher, granted to finshard_admin
-- only): any role that could take that lock would stop live notifications. In this database only
-- finshard's functions, which run as their owner, take advisory locks; on Citus, on every node.
-- dblink likewise (_loopback, as its owner): any login could open connections from the server.
DO $grants$
DECLARE
    v_revoke text := $r$DO $d$ DECLARE f regprocedure; BEGIN
        FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
                  WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname LIKE 'pg\_%advisory%'
                 UNION ALL
                 SELECT d.objid::regprocedure FROM pg_catalog.pg_depend d
                  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'dblink'
                  WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.refclassid = 'pg_catalog.pg_extension'::regclass
                    AND d.deptype = 'e'
        LOOP EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f); END LOOP; END $d$$r$;
BEGIN
    EXECUTE v_revoke;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        PERFORM run_command_on_workers(v_revoke);
    END IF;
END
$grants$;
