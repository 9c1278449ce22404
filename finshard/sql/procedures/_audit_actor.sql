CREATE OR REPLACE FUNCTION finshard._audit_actor()
RETURNS text
LANGUAGE sql STABLE
AS $$
    -- The login, and the role it set (SET ROLE) when it did: a login that sets a group role must not
    -- hide behind the group's name in the audit.
    SELECT CASE pg_catalog.current_setting('role') WHEN 'none' THEN session_user::text
                ELSE session_user::text || ' as ' || pg_catalog.current_setting('role') END
$$;
COMMENT ON FUNCTION finshard._audit_actor() IS 'Who the audit log names as the actor: the login, and the role it set with SET ROLE';
REVOKE ALL ON FUNCTION finshard._audit_actor() FROM PUBLIC;
