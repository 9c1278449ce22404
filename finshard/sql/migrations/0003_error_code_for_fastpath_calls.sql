-- Public functions refuse the protocol's fast-path function call with FS097: the error codes are
-- rows of a table whose file is part of the schema level.
INSERT INTO finshard.error_codes (sqlstate, name, meaning, hint)
VALUES ('FS097', 'fastpath_call', 'a finshard function was called through the protocol''s fast-path function call (libpq PQfn), which runs it outside any query: on Citus its writes would not commit together',
        'Call it in a query: SELECT * FROM finshard.<function>(...).')
ON CONFLICT (sqlstate) DO NOTHING;
