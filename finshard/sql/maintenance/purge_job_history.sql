CREATE OR REPLACE FUNCTION finshard.purge_job_history(p_keep interval DEFAULT interval '30 days')
RETURNS bigint
LANGUAGE plpgsql
-- pg_cron's history table is its owner's (pg_cron 1.4 keeps every run; an every-minute job adds
-- half a million rows a year).
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count bigint;
BEGIN
    -- A standby's own answer comes below (pg_cron runs this on standbys too).
    IF current_query() IS NULL OR (current_setting('transaction_read_only') = 'on' AND NOT pg_is_in_recovery())
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('purge_job_history');
    END IF;
    PERFORM finshard._not_null(p_keep, 'p_keep');
    IF p_keep < interval '1 day' THEN
        PERFORM finshard.fail('FS005', format('p_keep %s must be at least a day: maintenance status reads the last runs', p_keep));
    END IF;
    IF pg_is_in_recovery() OR NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RETURN 0;
    END IF;
    DELETE FROM cron.job_run_details d USING cron.job c
     WHERE c.jobid = d.jobid AND c.jobname LIKE 'finshard-%' AND d.end_time < now() - p_keep;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION finshard.purge_job_history(interval) IS 'Deletes pg_cron''s run history of finshard''s jobs older than p_keep (at least a day); returns how many rows; 0 without pg_cron or on a standby. Raises FS001, FS005';
REVOKE ALL ON FUNCTION finshard.purge_job_history(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.purge_job_history(interval) TO finshard_admin;
