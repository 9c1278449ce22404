CREATE TABLE IF NOT EXISTS finshard.schema_version (
    version      text        NOT NULL,
    installed_at timestamptz NOT NULL DEFAULT now(),
    installed_by text        NOT NULL DEFAULT current_user,
    citus        boolean     NOT NULL DEFAULT false,
    schema_hash  text,
    -- New columns go last: a migration's ADD COLUMN appends, and an upgraded table must equal a fresh one.
    migration    integer,
    step         text,
    PRIMARY KEY (version, installed_at)
);
COMMENT ON TABLE finshard.schema_version IS 'One row per install or upgrade run and one per migration it applied; the highest migration is the schema level';
COMMENT ON COLUMN finshard.schema_version.schema_hash IS 'sha256 of the table, domain and type DDL installed (finshard.ops.installer.schema_fingerprint); NULL from psql runs and on migration rows';
COMMENT ON COLUMN finshard.schema_version.migration IS 'The schema level: on a migration row the migration applied, on an install row the level the run left';
COMMENT ON COLUMN finshard.schema_version.step IS 'The migration file a migration row applied (migrations/NNNN_name.sql); NULL on install rows';
