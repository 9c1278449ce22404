CREATE TABLE IF NOT EXISTS finshard.schema_version (
    version      text        NOT NULL,
    installed_at timestamptz NOT NULL DEFAULT now(),
    installed_by text        NOT NULL DEFAULT current_user,
    citus        boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (version, installed_at)
);
COMMENT ON TABLE finshard.schema_version IS 'One row per finshard install run; the newest row is the installed version';
