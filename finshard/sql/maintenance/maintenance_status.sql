CREATE OR REPLACE FUNCTION finshard.maintenance_status()
RETURNS TABLE (job_name text, schedule text, command text, scheduled boolean, active boolean,
               last_start timestamptz, last_end timestamptz, last_status text, last_message text, note text)
LANGUAGE plpgsql STABLE
-- pg_cron's tables are its owner's: read here as finshard's owner, for finshard's jobs only.
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_problem text := finshard._cron_problem();
    v_job     record;
BEGIN
    FOR v_job IN SELECT * FROM finshard.maintenance_jobs() LOOP
        job_name := v_job.job_name;
        schedule := v_job.schedule;
        command := v_job.command;
        scheduled := false;
        active := NULL;
        last_start := NULL;
        last_end := NULL;
        last_status := NULL;
        last_message := NULL;
        note := v_problem;
        IF v_problem IS NULL THEN
            SELECT c.schedule, c.command, c.active,
                   CASE WHEN c.schedule IS DISTINCT FROM v_job.schedule OR c.command IS DISTINCT FROM v_job.command
                        THEN format('scheduled as %L (%s), not as finshard.maintenance_jobs() says: run finshard maintenance schedule',
                                    c.schedule, c.command) END
              INTO schedule, command, active, note
              FROM cron.job c WHERE c.jobname = v_job.job_name
             ORDER BY c.jobid DESC LIMIT 1;
            scheduled := FOUND;
            IF NOT scheduled THEN
                note := 'not scheduled: run finshard maintenance schedule (or finshard install)';
            ELSE
                SELECT d.start_time, d.end_time, d.status, d.return_message
                  INTO last_start, last_end, last_status, last_message
                  FROM cron.job_run_details d JOIN cron.job c ON c.jobid = d.jobid
                 WHERE c.jobname = v_job.job_name
                 ORDER BY d.start_time DESC NULLS LAST, d.runid DESC LIMIT 1;
            END IF;
        END IF;
        -- The retire job refuses to drop without an archive directory: say so before it does.
        IF v_job.job_name = 'finshard-retire' AND finshard._archive_dir(false) IS NULL THEN
            note := concat_ws('; ', note, 'no archive directory set (finshard.set_archive_dir): partitions past retention stay (FS072)');
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION finshard.maintenance_status() IS 'Every job of finshard.maintenance_jobs() with its pg_cron schedule, whether it is scheduled and active, its last run (start, end, status, message from cron.job_run_details), and a note: why it is not scheduled, or what needs attention';
REVOKE ALL ON FUNCTION finshard.maintenance_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.maintenance_status() TO finshard_admin, finshard_readonly;
