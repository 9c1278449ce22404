-- retire_partitions carries each account's state at the end of a retired month into
-- finshard.carried_forward (a new table, which the install creates), and account_statement refuses
-- a retired month with FS078: the error codes are rows of a table whose file is part of the
-- schema level.
INSERT INTO finshard.error_codes (sqlstate, name, meaning, hint)
VALUES ('FS078', 'period_retired', 'the month''s ledger entries were retired to the archive',
        'Load the month''s archive with finshard.restore_archive and read it in finshard_archive; the books carry the balance forward from it.')
ON CONFLICT (sqlstate) DO NOTHING;
