CREATE TABLE IF NOT EXISTS finshard.restore_points (
    name        text        PRIMARY KEY,
    created_at  timestamptz NOT NULL,
    lsns        jsonb       NOT NULL,
    created_by  text        NOT NULL DEFAULT session_user
);
COMMENT ON TABLE finshard.restore_points IS 'Cluster-consistent restore points (finshard.create_restore_point): each node''s WAL position by Citus node group, so a restore picks every node''s backup and target by name. A local table on the coordinator';
COMMENT ON COLUMN finshard.restore_points.lsns IS '{"<group id>": "<lsn>"}: group 0 is the coordinator (or the single node)';
