CREATE OR REPLACE FUNCTION finshard._actor()
RETURNS text
LANGUAGE sql STABLE
AS $$
    -- The role that called: SET ROLE's when set, else the login. Inside a function that runs as
    -- its owner, current_user is the owner, while the role setting is still the caller's.
    SELECT CASE pg_catalog.current_setting('role') WHEN 'none' THEN session_user::text
                ELSE pg_catalog.current_setting('role') END
$$;
COMMENT ON FUNCTION finshard._actor() IS 'The database role that called the public function (SET ROLE''s, else the login)';
REVOKE ALL ON FUNCTION finshard._actor() FROM PUBLIC;
