CREATE OR REPLACE FUNCTION finshard.set_notify_delivery(p_mode text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('set_notify_delivery');
    END IF;
    -- A role acting as itself, for no end user (and the audit entry says so).
    PERFORM finshard._caller(NULL);
    IF p_mode IS NULL OR p_mode NOT IN ('auto', 'immediate', 'deferred') THEN
        PERFORM finshard.fail('FS005', format('notify delivery %L is not auto, immediate or deferred', p_mode));
    END IF;
    UPDATE finshard.settings SET value = p_mode, updated_at = now() WHERE key = 'notify_delivery';
    PERFORM finshard._audit(0, 'set_notify_delivery', jsonb_build_object('mode', p_mode));
END
$$;
COMMENT ON FUNCTION finshard.set_notify_delivery(text) IS 'auto (the default): deferred while a dispatcher is registered on the node (register_dispatcher), immediate otherwise; immediate: pg_notify inside each money transaction (simple; every notifying commit serializes on PostgreSQL''s notify lock); deferred: rows only, sent in batches by dispatch_notifications(). Raises FS005';
REVOKE ALL ON FUNCTION finshard.set_notify_delivery(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.set_notify_delivery(text) TO finshard_admin;
