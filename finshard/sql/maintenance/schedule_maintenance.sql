CREATE OR REPLACE FUNCTION finshard.schedule_maintenance(p_day_orders_cutoff text DEFAULT NULL,
                                                         p_partition_months_ahead integer DEFAULT NULL)
RETURNS TABLE (job_name text, schedule text, scheduled boolean, note text)
LANGUAGE plpgsql
-- Jobs belong to the superuser that owns finshard (pg_cron runs a job as the user who scheduled
-- it); their commands come only from finshard.maintenance_jobs().
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_problem text;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('schedule_maintenance');
    END IF;
    IF p_day_orders_cutoff IS NOT NULL THEN
        IF p_day_orders_cutoff !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$' THEN
            PERFORM finshard.fail('FS005', format('p_day_orders_cutoff %s must be a UTC time HH:MM', p_day_orders_cutoff));
        END IF;
        UPDATE finshard.settings SET value = p_day_orders_cutoff, updated_at = now() WHERE key = 'day_orders_cutoff';
    END IF;
    IF p_partition_months_ahead IS NOT NULL THEN
        IF p_partition_months_ahead NOT BETWEEN 1 AND 120 THEN
            PERFORM finshard.fail('FS070', format('p_partition_months_ahead %s must be between 1 and 120', p_partition_months_ahead));
        END IF;
        UPDATE finshard.settings SET value = p_partition_months_ahead::text, updated_at = now() WHERE key = 'partition_months_ahead';
    END IF;
    v_problem := finshard._cron_problem();
    IF v_problem IS NULL THEN
        -- cron.schedule replaces a job of the same name: re-running never duplicates one.
        PERFORM cron.schedule(j.job_name, j.schedule, j.command) FROM finshard.maintenance_jobs() j;
        -- A job no longer in the list stops.
        PERFORM cron.unschedule(c.jobid) FROM cron.job c
          WHERE c.jobname LIKE 'finshard-%' AND c.jobname NOT IN (SELECT j.job_name FROM finshard.maintenance_jobs() j);
    END IF;
    RETURN QUERY SELECT j.job_name, j.schedule, v_problem IS NULL, v_problem FROM finshard.maintenance_jobs() j;
END
$$;
COMMENT ON FUNCTION finshard.schedule_maintenance(text, integer) IS 'Schedules every job of finshard.maintenance_jobs() with pg_cron (replacing jobs of the same name), after setting the DAY-order cutoff (HH:MM UTC) and the months of partitions kept ahead when given; where pg_cron cannot run them, schedules nothing and says why in note. Raises FS005, FS070';
REVOKE ALL ON FUNCTION finshard.schedule_maintenance(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.schedule_maintenance(text, integer) TO finshard_admin;
