CREATE OR REPLACE FUNCTION finshard.cancel_price_alert(p_account_id bigint, p_alert_id bigint, p_session text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('cancel_price_alert');
    END IF;
    -- Who may do this, for whom: docs/roles.md.
    PERFORM finshard._authorize(p_session, p_account_id, 'owner');
    PERFORM finshard._not_null(p_account_id, 'p_account_id');
    PERFORM finshard._not_null(p_alert_id, 'p_alert_id');
    PERFORM finshard._lock_account(p_account_id);
    -- An alert that fired has done its work and stays as the record of it.
    DELETE FROM finshard.price_alerts a WHERE a.account_id = p_account_id AND a.alert_id = p_alert_id AND a.fired_at IS NULL;
    IF NOT FOUND THEN
        PERFORM finshard.fail('FS066', format('account %s has no armed price alert %s', p_account_id, p_alert_id));
    END IF;
    PERFORM finshard._audit(p_account_id, 'cancel_price_alert', jsonb_build_object('alert_id', p_alert_id));
END
$$;
COMMENT ON FUNCTION finshard.cancel_price_alert(bigint, bigint, text) IS 'Disarms (deletes) an armed price alert of the account. Raises FS001, FS010, FS019, FS066 (no such armed alert), FS080-FS085';
REVOKE ALL ON FUNCTION finshard.cancel_price_alert(bigint, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.cancel_price_alert(bigint, bigint, text) TO finshard_app, finshard_admin;
