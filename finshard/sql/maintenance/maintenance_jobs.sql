CREATE OR REPLACE FUNCTION finshard.maintenance_jobs()
RETURNS TABLE (job_name text, schedule text, command text, purpose text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- The one list of scheduled maintenance: install schedules it with pg_cron (schedule_maintenance),
    -- finshard maintenance run runs the same commands. Schedules are cron syntax in UTC (pg_cron
    -- 1.4 runs in GMT). A job is one row.
    WITH s AS (SELECT max(value) FILTER (WHERE key = 'partition_months_ahead')::integer AS months_ahead,
                      max(value) FILTER (WHERE key = 'day_orders_cutoff') AS cutoff
                 FROM finshard.settings)
    SELECT j.job_name, j.schedule, j.command, j.purpose FROM s, LATERAL (VALUES
        ('finshard-partitions', '17 3 * * *',
         format('SELECT count(*) FROM finshard.create_partitions(0, %s) WHERE created', s.months_ahead),
         format('monthly partitions %s months ahead, daily', s.months_ahead)),
        ('finshard-expire-pending', '* * * * *', 'SELECT finshard.expire_pending_transfers()',
         'pending transfers past their timeout expire, every minute'),
        -- The last cutoff at or before now: run late or by hand, it never expires today's orders early.
        ('finshard-expire-day-orders', format('%s %s * * *', split_part(s.cutoff, ':', 2)::integer, split_part(s.cutoff, ':', 1)::integer),
         format('SELECT finshard.expire_day_orders(date_trunc(''day'', now() - interval %L, ''UTC'') + interval %L)', s.cutoff, s.cutoff),
         format('DAY orders expire at %s UTC, daily', s.cutoff)),
        ('finshard-retire', '47 4 1 * *', 'SELECT count(*) FROM finshard.retire_partitions(false) WHERE retired',
         'partitions past retention are archived, verified and dropped, monthly'),
        ('finshard-check-archiving', '*/5 * * * *', 'SELECT count(*) FROM finshard.check_archiving()',
         'fails when WAL archiving fails or is behind on a node, every 5 minutes'),
        -- After a shard move or split, same-node transfers take the per-leg path on the nodes
        -- concerned until their new shards are attached (docs/citus-tax.md).
        ('finshard-local-shards', '* * * * *', 'SELECT finshard.sync_local_shards()',
         'every node''s shards attached to its finshard_local tables (Citus), every minute'),
        ('finshard-job-history', '23 2 * * *', 'SELECT finshard.purge_job_history()',
         'pg_cron''s run history of these jobs older than 30 days is deleted, daily'),
        -- Where WAL is archived: the points a time target resolves to on Citus (docs/backup.md),
        -- sent to the archive within archive_timeout; automatic points are kept 35 days.
        ('finshard-restore-point', '*/5 * * * *',
         $cmd$WITH pruned AS (DELETE FROM finshard.restore_points WHERE name LIKE 'auto-%' AND created_at < now() - interval '35 days' RETURNING 1) SELECT CASE WHEN current_setting('archive_mode') = 'off' THEN 0 ELSE (SELECT count(*) FROM finshard.create_restore_point('auto-' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS"Z"'), false)) END$cmd$,
         'a cluster-consistent restore point every 5 minutes')
    ) AS j (job_name, schedule, command, purpose);
$$;
COMMENT ON FUNCTION finshard.maintenance_jobs() IS 'The scheduled maintenance jobs: name, cron schedule (UTC), SQL command and purpose; settings partition_months_ahead and day_orders_cutoff shape two of them';
REVOKE ALL ON FUNCTION finshard.maintenance_jobs() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.maintenance_jobs() TO finshard_admin, finshard_readonly;
