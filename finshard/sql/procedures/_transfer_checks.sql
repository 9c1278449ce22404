CREATE OR REPLACE FUNCTION finshard._transfer_checks(p_from_account_id bigint, p_to_account_id bigint, p_amount numeric,
                                                     p_description text,
                                                     p_authorize boolean DEFAULT false,
                                                     p_session text DEFAULT NULL,
                                                     OUT currency text,
                                                     OUT notify_delivery text,
                                                     OUT user_id bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    v_minor  smallint;
    v_owner  bigint;
    v_active boolean;
    v_live   boolean;
BEGIN
    IF p_from_account_id IS NULL THEN
        PERFORM finshard._not_null(p_from_account_id, 'p_from_account_id');
    END IF;
    -- One statement for the currency, its decimals, the notify setting, the owner and the session
    -- (reference tables but accounts), so that neither the movement nor the authorization needs a
    -- statement of its own (on Citus each is planned for a shard); transfer is never
    -- force-delegated, which would refuse the join.
    SELECT a.currency, c.minor_units, s.value, a.user_id, a.owner_active, ses.user_id,
           ses.revoked_at IS NULL AND ses.expires_at > now()
      INTO currency, v_minor, notify_delivery, v_owner, v_active, user_id, v_live
      FROM finshard.accounts a
      JOIN finshard.currencies c ON c.code = a.currency
      LEFT JOIN finshard.settings s ON s.key = 'notify_delivery'
      LEFT JOIN finshard.sessions ses ON ses.token_hash = pg_catalog.sha256(pg_catalog.convert_to(p_session, 'UTF8'))
     WHERE a.account_id = p_from_account_id
       /*on shards: AND hashint8(a.account_id) = hashint8(p_from_account_id) */;
    IF NOT FOUND THEN
        IF p_authorize THEN
            PERFORM finshard._caller(p_session);  -- the session's own refusal comes first
        END IF;
        PERFORM finshard.fail('FS010', format('account %s does not exist', p_from_account_id));
    END IF;
    -- With p_authorize, _authorize's sender rule on the row just read: the owner's live session
    -- (logout, a new password and deactivation revoke), or a role acting as itself; an active owner.
    IF p_authorize THEN
        IF p_session IS NULL OR user_id IS NULL OR NOT v_live THEN
            -- A role acting as itself, or a session to refuse: _caller checks and says why.
            user_id := (finshard._caller(p_session)).user_id;
        ELSE
            PERFORM pg_catalog.set_config('finshard.on_behalf_of', user_id::text, true);
        END IF;
        IF user_id IS NOT NULL AND v_owner <> user_id THEN
            PERFORM finshard.fail('FS085', format('account %s does not belong to user %s', p_from_account_id, user_id));
        END IF;
        IF NOT v_active THEN
            PERFORM finshard.fail('FS021', format('account %s belongs to a deactivated user: it can neither send money nor place orders',
                                                  p_from_account_id));
        END IF;
    END IF;
    -- The helpers raise the errors; the IF keeps their calls off the path of a valid transfer.
    IF p_to_account_id IS NULL OR p_amount IS NULL THEN
        PERFORM finshard._not_null(p_to_account_id, 'p_to_account_id');
        PERFORM finshard._not_null(p_amount, 'p_amount');
    END IF;
    PERFORM finshard._check_text(p_description, 'p_description', 500);
    IF p_from_account_id = p_to_account_id THEN
        PERFORM finshard.fail('FS014', format('transfer from account %s to itself', p_from_account_id));
    END IF;
    PERFORM finshard._check_amount(p_amount, currency, 'p_amount', v_minor);
END
$$;
COMMENT ON FUNCTION finshard._transfer_checks(bigint, bigint, numeric, text, boolean, text) IS 'Argument checks shared by transfer and create_pending_transfer; with p_authorize also the sender rule for session p_session (NULL: a role acting as itself). Returns the source currency, the notify_delivery setting and the end user';
REVOKE ALL ON FUNCTION finshard._transfer_checks(bigint, bigint, numeric, text, boolean, text) FROM PUBLIC;
