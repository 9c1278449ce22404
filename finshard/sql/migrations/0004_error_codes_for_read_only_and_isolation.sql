-- Public functions that write refuse a read-only transaction (FS098) and another isolation level
-- than READ COMMITTED (FS099): the error codes are rows of a table whose file is part of the
-- schema level.
INSERT INTO finshard.error_codes (sqlstate, name, meaning, hint)
VALUES ('FS098', 'read_only_transaction', 'a finshard function that writes was called in a read-only transaction (SET TRANSACTION READ ONLY, default_transaction_read_only, or a standby)',
        'Call it in a read-write transaction on the primary.'),
       ('FS099', 'isolation_level', 'a finshard function that writes was called at another isolation level than READ COMMITTED, where a concurrent change would end it in a serialization failure',
        'Call it at READ COMMITTED (the default), in autocommit or its own transaction.')
ON CONFLICT (sqlstate) DO NOTHING;
