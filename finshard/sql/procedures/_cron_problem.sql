CREATE OR REPLACE FUNCTION finshard._cron_problem()
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_group integer;
BEGIN
    -- Why pg_cron cannot run finshard's jobs from this database, or NULL when it can.
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'pg_cron') THEN
        RETURN 'pg_cron is not installed on this server (Debian: postgresql-15-cron); schedule finshard maintenance run from outside';
    END IF;
    IF current_setting('shared_preload_libraries') !~ '(^|[\s,])"?pg_cron"?($|[\s,])' THEN
        RETURN 'pg_cron is installed but not in shared_preload_libraries: add it, set cron.database_name, restart, run finshard install';
    END IF;
    IF current_setting('cron.database_name', true) IS DISTINCT FROM current_database() THEN
        RETURN format('pg_cron runs jobs in database %s (cron.database_name), not in %s',
                      coalesce(current_setting('cron.database_name', true), 'postgres'), current_database());
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO v_group;
        IF v_group IS DISTINCT FROM 0 THEN
            RETURN 'this is a Citus worker: finshard''s jobs are scheduled on the coordinator';
        END IF;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        RETURN 'the pg_cron extension is not created in this database: run finshard install';
    END IF;
    IF pg_is_in_recovery() THEN
        RETURN 'standby: pg_cron runs the jobs on the primary';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION finshard._cron_problem() IS 'Why pg_cron cannot run finshard''s maintenance jobs here (not installed, not preloaded, another database, a Citus worker, not created, a standby), or NULL';
REVOKE ALL ON FUNCTION finshard._cron_problem() FROM PUBLIC;
