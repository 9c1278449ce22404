-- Table privileges: applications write only through the SECURITY DEFINER functions (docs/roles.md).
REVOKE ALL ON ALL TABLES IN SCHEMA finshard FROM PUBLIC, finshard_app, finshard_market, finshard_admin, finshard_readonly;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA finshard FROM PUBLIC, finshard_app, finshard_market, finshard_admin, finshard_readonly;
-- Reports read every table but these: credentials and personal data (users: only the columns
-- below), sessions (token hashes), idempotency keys (request parameters).
GRANT SELECT ON ALL TABLES IN SCHEMA finshard TO finshard_readonly;
REVOKE SELECT ON finshard.users, finshard.sessions, finshard.idempotency_keys FROM finshard_readonly;
GRANT SELECT (user_id, username, role, is_active, created_at, updated_at) ON finshard.users TO finshard_readonly;
