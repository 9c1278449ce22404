-- finshard.sync_local_shards reports a node that cannot attach its shards as FS096: the error
-- codes are rows of a table whose file is part of the schema level.
INSERT INTO finshard.error_codes (sqlstate, name, meaning, hint)
VALUES ('FS096', 'local_shards_failed', 'a node could not attach (or detach) its shards to its finshard_local tables',
        'Run finshard.sync_local_shards() again once the node is reachable; until then its transfers take the per-leg path.')
ON CONFLICT (sqlstate) DO NOTHING;
