-- The finshard schema, the extensions it needs and the two roles applications use.
-- Re-runnable: every statement is guarded.
CREATE SCHEMA IF NOT EXISTS finshard;
COMMENT ON SCHEMA finshard IS 'finshard: sharded fintech ledger and trading (one schema for every object)';

-- pgcrypto: bcrypt password hashes (crypt/gen_salt). Citus propagates it to the workers.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
-- dblink: a login attempt, and a failed login's audit entry, are written in a transaction of their own (see _loopback).
CREATE EXTENSION IF NOT EXISTS dblink;
-- citus_columnar, where Citus is: old append-only months can then be compressed (finshard
-- partitions compress). Citus ships it but does not create it. Citus propagates it to the workers.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')
       AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'citus_columnar') THEN
        CREATE EXTENSION IF NOT EXISTS citus_columnar;
    END IF;
END
$$;

-- pg_cron runs finshard's maintenance jobs (finshard.maintenance_jobs), where the server preloads
-- it for this database; elsewhere install goes on and finshard maintenance status says why not.
-- Citus propagates the extension to the workers (which preload pg_cron too); jobs are scheduled
-- on the coordinator only. Where a worker cannot create it, it is created on the coordinator alone.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_cron')
       AND current_setting('shared_preload_libraries') ~ '(^|[\s,])"?pg_cron"?($|[\s,])'
       AND current_setting('cron.database_name', true) = current_database()
       AND NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        BEGIN
            CREATE EXTENSION pg_cron;
        EXCEPTION WHEN OTHERS THEN
            IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
                RAISE WARNING 'finshard: pg_cron not created (%): maintenance jobs are not scheduled', SQLERRM;
                RETURN;
            END IF;
            PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
            BEGIN
                CREATE EXTENSION pg_cron;
            EXCEPTION WHEN OTHERS THEN
                RAISE WARNING 'finshard: pg_cron not created (%): maintenance jobs are not scheduled', SQLERRM;
            END;
        END;
    END IF;
END
$$;

-- Roles by duty (docs/roles.md is the table of who may call what; tests compare it with the
-- catalog). NOLOGIN groups: logins are made members (finshard roles create-login).
DO $$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['finshard_app', 'finshard_market', 'finshard_admin', 'finshard_readonly'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', v_role);
        END IF;
    END LOOP;
END
$$;
COMMENT ON ROLE finshard_app IS 'finshard applications: customer operations, each on behalf of an end user''s session (p_session)';
COMMENT ON ROLE finshard_market IS 'finshard market-data feed: quotes, batch quotes, bars';
COMMENT ON ROLE finshard_admin IS 'finshard administrators: reference data, user and account administration, maintenance, reports, the dispatcher';
COMMENT ON ROLE finshard_readonly IS 'finshard reports: reads without credentials or personal data';

REVOKE ALL ON SCHEMA finshard FROM PUBLIC;
GRANT USAGE ON SCHEMA finshard TO finshard_app, finshard_market, finshard_admin, finshard_readonly;
