CREATE OR REPLACE FUNCTION finshard._authorize(p_session text, p_account_id bigint, p_rule text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_caller record;
    v_owner  bigint;
    v_active boolean;
BEGIN
    -- Rules (docs/roles.md): owner = the account's owner only; sender = the owner, who must be
    -- active (money out, orders); owner_or_admin = or an admin user; read = owner_or_admin, and
    -- finshard_readonly may read without a session; admin = an admin user.
    v_caller := finshard._caller(p_session, p_rule = 'read');
    IF v_caller.user_id IS NOT NULL AND p_account_id IS NULL THEN
        PERFORM finshard.fail('FS001', 'the account id is NULL');
    END IF;
    IF v_caller.user_id IS NOT NULL AND p_rule = 'admin' AND NOT v_caller.is_admin THEN
        PERFORM finshard.fail('FS080', format('user %s is not an admin: account %s is administered by admins',
                                              v_caller.user_id, p_account_id));
    END IF;
    IF v_caller.user_id IS NULL AND p_rule <> 'sender' THEN
        RETURN NULL;
    END IF;
    -- A plain filter on the distribution argument: a force-delegated call on Citus allows no more.
    SELECT a.user_id, a.owner_active INTO v_owner, v_active FROM finshard.accounts a WHERE a.account_id = p_account_id;
    IF v_caller.user_id IS NULL THEN
        -- A role acting as itself: the function reports an unknown account itself. A session's
        -- user is active (_caller checked); an account's owner may not be.
        IF p_rule = 'sender' AND v_owner IS NOT NULL AND NOT v_active THEN
            PERFORM finshard.fail('FS021', format('account %s belongs to a deactivated user: it can neither send money nor place orders',
                                                  p_account_id));
        END IF;
        RETURN NULL;
    END IF;
    IF v_owner IS NULL THEN
        PERFORM finshard.fail('FS010', format('account %s does not exist', p_account_id));
    END IF;
    IF v_owner <> v_caller.user_id AND NOT (v_caller.is_admin AND p_rule NOT IN ('owner', 'sender')) THEN
        PERFORM finshard.fail('FS085', format('account %s does not belong to user %s', p_account_id, v_caller.user_id));
    END IF;
    RETURN v_caller.user_id;
END
$$;
COMMENT ON FUNCTION finshard._authorize(text, bigint, text) IS 'Checks that session p_session may act on account p_account_id under p_rule (owner, sender, owner_or_admin, read, admin); returns the end user, NULL for a database role acting as itself. Raises FS001, FS010, FS080-FS085';
REVOKE ALL ON FUNCTION finshard._authorize(text, bigint, text) FROM PUBLIC;
