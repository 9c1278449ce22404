-- retire_partitions carries each account's state at the end of a retired month into
-- finshard.carried_forward (a new table, which the install creates), and account_statement refuses
-- a retired month with FS078; price alerts have a limit (FS065) and are cancelled (FS066): the
-- error codes are rows of a table whose file is part of the schema level.
INSERT INTO finshard.error_codes (sqlstate, name, meaning, hint)
VALUES ('FS078', 'period_retired', 'the month''s ledger entries were retired to the archive',
        'Load the month''s archive with finshard.restore_archive and read it in finshard_archive; the books carry the balance forward from it.'),
       ('FS065', 'alert_limit', 'the account keeps as many armed price alerts as it may (100)',
        'Cancel one with finshard.cancel_price_alert, or wait for one to fire.'),
       ('FS066', 'alert_not_found', 'the account has no armed price alert with this id',
        'Check the alert id and the account id; an alert that fired stays as its record and cannot be cancelled.')
ON CONFLICT (sqlstate) DO NOTHING;
