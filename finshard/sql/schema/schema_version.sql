CREATE TABLE IF NOT EXISTS finshard.schema_version (
    version      text        NOT NULL,
    installed_at timestamptz NOT NULL DEFAULT now(),
    installed_by text        NOT NULL DEFAULT current_user,
    citus        boolean     NOT NULL DEFAULT false,
    schema_hash  text,
    PRIMARY KEY (version, installed_at)
);
-- Added after the first installs: the one column this table ever gained, so an older install
-- can record its fingerprint (the installer judges its other tables by their install steps).
ALTER TABLE finshard.schema_version ADD COLUMN IF NOT EXISTS schema_hash text;
COMMENT ON TABLE finshard.schema_version IS 'One row per finshard install run; the newest row is the installed version';
COMMENT ON COLUMN finshard.schema_version.schema_hash IS 'sha256 of the table, domain and type DDL installed (finshard.installer.schema_fingerprint); NULL from psql installs';
