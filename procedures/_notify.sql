CREATE OR REPLACE FUNCTION finshard._notify(p_account_id bigint, p_user_id bigint, p_kind text,
                                            p_message text, p_payload jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id bigint;
    v_prepared_later boolean;
BEGIN
    INSERT INTO finshard.notifications (account_id, user_id, kind, message, payload)
    VALUES (p_account_id, p_user_id, p_kind, p_message, p_payload)
    RETURNING notification_id INTO v_id;
    -- Delivered at commit to LISTEN finshard_events sessions on the node that ran the call. Citus
    -- cannot PREPARE a transaction that sent NOTIFY, and it prepares the worker side of a client's
    -- transaction block; such a worker transaction was given its distributed transaction id by
    -- another node (assign_distributed_transaction_id). There only the row is stored. A delegated
    -- autocommit call gets no such id and notifies. (Dynamic SQL: plain PostgreSQL lacks the function.)
    IF current_setting('application_name') LIKE 'citus_internal%' THEN
        EXECUTE 'SELECT t.transaction_number <> 0 AND t.initiator_node_identifier <> (SELECT groupid FROM pg_dist_local_group)
                   FROM get_current_transaction_id() t' INTO v_prepared_later;
        IF v_prepared_later THEN
            RETURN;
        END IF;
    END IF;
    PERFORM pg_notify('finshard_events',
                      jsonb_build_object('notification_id', v_id, 'account_id', p_account_id, 'user_id', p_user_id,
                                         'kind', p_kind, 'message', p_message, 'payload', p_payload)::text);
END
$$;
COMMENT ON FUNCTION finshard._notify(bigint, bigint, text, text, jsonb) IS 'Stores a notification and sends it on channel finshard_events (payload: the row as JSON), except inside a Citus multi-node transaction block, where only the row is stored';
REVOKE ALL ON FUNCTION finshard._notify(bigint, bigint, text, text, jsonb) FROM PUBLIC;
