CREATE OR REPLACE FUNCTION finshard.expire_pending_transfers(p_limit integer DEFAULT 1000)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_transfer record;
    v_count    integer := 0;
BEGIN
    -- A standby's own answer comes below (pg_cron runs this on standbys too).
    IF current_query() IS NULL OR (current_setting('transaction_read_only') = 'on' AND NOT pg_is_in_recovery())
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('expire_pending_transfers');
    END IF;
    -- No end user: the audit entries this may write (fills, expiries) name none, whatever a caller SET.
    PERFORM pg_catalog.set_config('finshard.on_behalf_of', '', true);
    PERFORM finshard._check_limit(p_limit, 1000000);
    -- Maintenance does nothing on a standby, and never runs twice at once: a second run would read
    -- the same transfers as the first and fail on each one the first had expired.
    IF pg_is_in_recovery() THEN
        RAISE NOTICE 'finshard.expire_pending_transfers: standby, nothing done';
        RETURN 0;
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('finshard.expire_pending_transfers')) THEN
        RAISE NOTICE 'finshard.expire_pending_transfers: another run holds the lock, nothing done';
        RETURN 0;
    END IF;
    -- One scan of every shard's partial index, then each expiry on its own account's shard.
    FOR v_transfer IN
        SELECT t.from_account_id, t.transfer_id FROM finshard.transfers t
         WHERE t.status = 'pending' AND t.expires_at <= now()
         ORDER BY t.expires_at LIMIT p_limit
    LOOP
        PERFORM finshard.void_pending_transfer(v_transfer.from_account_id, v_transfer.transfer_id, 'expired');
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION finshard.expire_pending_transfers(integer) IS 'Expires up to p_limit pending transfers past their timeout (releasing their reservations); returns how many. Run it periodically (the finshard-expire-pending pg_cron job does, every minute); does nothing (returns 0) on a standby or while another run holds the lock. Raises FS005 unless 1 <= p_limit <= 1000000';
REVOKE ALL ON FUNCTION finshard.expire_pending_transfers(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.expire_pending_transfers(integer) TO finshard_admin;
