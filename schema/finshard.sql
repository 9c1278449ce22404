-- The finshard schema, the extensions it needs and the two roles applications use.
-- Re-runnable: every statement is guarded.
CREATE SCHEMA IF NOT EXISTS finshard;
COMMENT ON SCHEMA finshard IS 'finshard: sharded fintech ledger and trading (one schema for every object)';

-- pgcrypto: bcrypt password hashes (crypt/gen_salt). Citus propagates it to the workers.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
-- dblink: a failed login is recorded in a transaction of its own (see _record_failed_login).
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

-- Least privilege: applications only EXECUTE the public functions; reports only read.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'finshard_app') THEN
        CREATE ROLE finshard_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'finshard_readonly') THEN
        CREATE ROLE finshard_readonly NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'finshard_admin') THEN
        CREATE ROLE finshard_admin NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'finshard_market') THEN
        CREATE ROLE finshard_market NOLOGIN;
    END IF;
END
$$;
COMMENT ON ROLE finshard_app IS 'finshard applications: EXECUTE on the public functions only, no direct table writes';
COMMENT ON ROLE finshard_readonly IS 'finshard reports: SELECT on tables and views';

REVOKE ALL ON SCHEMA finshard FROM PUBLIC;
GRANT USAGE ON SCHEMA finshard TO finshard_app, finshard_readonly, finshard_admin, finshard_market;
