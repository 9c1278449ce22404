-- Table privileges: applications write only through the SECURITY DEFINER functions; reports read.
REVOKE ALL ON ALL TABLES IN SCHEMA finshard FROM PUBLIC, finshard_app;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA finshard FROM PUBLIC, finshard_app;
GRANT SELECT ON ALL TABLES IN SCHEMA finshard TO finshard_readonly;
