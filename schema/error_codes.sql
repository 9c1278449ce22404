-- The one table of finshard SQLSTATEs. Class FS is unused by PostgreSQL, so a caller can tell
-- a finshard rejection from a server error by its first two characters.
-- finshard.fail() raises from this table; tests check that every code raised in procedures/
-- is here and that finshard/errors.py has one class per row.
CREATE TABLE IF NOT EXISTS finshard.error_codes (
    sqlstate text PRIMARY KEY CHECK (sqlstate ~ '^FS[0-9A-Z]{3}$'),
    name     text NOT NULL UNIQUE,
    meaning  text NOT NULL,
    hint     text NOT NULL
);
COMMENT ON TABLE finshard.error_codes IS 'finshard SQLSTATEs: every rejection raises one of these (reference table on Citus)';

INSERT INTO finshard.error_codes (sqlstate, name, meaning, hint) VALUES
    ('FS001', 'null_argument',            'a required argument is NULL',                           'Pass a value for every required argument.'),
    ('FS002', 'invalid_amount',           'an amount is zero, negative, NaN or infinite',          'Pass a finite amount greater than zero.'),
    ('FS003', 'amount_precision',         'an amount has more decimals than its currency allows',  'Round the amount to the currency''s minor units (see finshard.currencies).'),
    ('FS004', 'amount_out_of_range',      'an amount is beyond what a balance column can hold',    'Split the amount; a balance holds at most 18 integer digits.'),
    ('FS005', 'invalid_argument',         'an argument has a value outside its allowed set',       'See the function''s COMMENT for the allowed values.'),
    ('FS006', 'text_too_long',            'a text argument is longer than allowed',                'Shorten the text; see the function''s COMMENT for the limit.'),
    ('FS010', 'account_not_found',        'no account has this id',                                'Check the account id; finshard.open_account returns it.'),
    ('FS011', 'account_closed',           'the account is closed',                                 'Closed accounts take no movements; open a new account.'),
    ('FS012', 'account_frozen',           'the account is frozen',                                 'Ask an admin to run finshard.unfreeze_account.'),
    ('FS013', 'insufficient_funds',       'the available balance does not cover the amount',       'Deposit first or use a smaller amount; available = balance - reserved.'),
    ('FS014', 'same_account',             'a transfer names the same account twice',               'Transfer between two different accounts.'),
    ('FS015', 'account_not_empty',        'the account still holds money or reservations',         'Withdraw or transfer the balance and settle pending transfers first.'),
    ('FS016', 'duplicate_account',        'the user already has an account of this bank, currency and type', 'Use the existing account (finshard.accounts).'),
    ('FS017', 'unknown_currency',         'the currency is not in finshard.currencies',            'Use an ISO 4217 code listed in finshard.currencies, or add it with finshard.add_currency.'),
    ('FS018', 'fx_rate_missing',          'no exchange rate is in force for this currency pair',   'Record one with finshard.set_fx_rate.'),
    ('FS019', 'account_type_not_allowed', 'the account type does not allow this operation',        'House and system accounts are moved only by finshard itself.'),
    ('FS020', 'user_not_found',           'no user has this id',                                   'Check the user id; finshard.create_user returns it.'),
    ('FS021', 'user_inactive',            'the user is deactivated',                               'A deactivated user can neither log in nor open accounts.'),
    ('FS022', 'duplicate_username',       'the username is taken',                                 'Choose another username (usernames are case-insensitive).'),
    ('FS023', 'duplicate_email',          'the email is already registered',                       'Log in with that email, or use another one.'),
    ('FS024', 'authentication_failed',    'the login or the password is wrong',                    'Check the username or email and the password.'),
    ('FS025', 'invalid_user_data',        'a username, email, password or role is malformed',      'Usernames: 3-64 of [A-Za-z0-9_.-]; emails: one @; passwords: 8-72 characters; role: trader or admin.'),
    ('FS026', 'bank_not_found',           'no bank has this id',                                   'Create it with finshard.create_bank.'),
    ('FS030', 'idempotency_conflict',     'the idempotency key was used before with other parameters', 'Use a new key for a new request; reuse a key only to retry the same request.'),
    ('FS040', 'transfer_not_found',       'no pending transfer has this id on this account',       'Check the transfer id and its source account.'),
    ('FS041', 'transfer_not_pending',     'the transfer is already posted, voided or expired',     'A pending transfer resolves exactly once.'),
    ('FS042', 'post_exceeds_pending',     'the amount to post exceeds the pending amount',         'Post at most the pending amount.'),
    ('FS050', 'instrument_not_found',     'no instrument has this id',                             'Check the instrument id; finshard.create_instrument returns it.'),
    ('FS051', 'instrument_inactive',      'the instrument is deactivated',                         'Trading is closed for this instrument.'),
    ('FS052', 'duplicate_symbol',         'the instrument symbol is taken',                        'Symbols are unique; use the existing instrument.'),
    ('FS053', 'invalid_quote',            'a quote has bid above ask or a non-positive price or size', 'Send bid <= ask, prices > 0 and sizes > 0.'),
    ('FS054', 'no_quote',                 'the instrument has no quote yet',                       'Publish a quote with finshard.update_quote before market orders or P&L at market.'),
    ('FS055', 'invalid_order',            'the order type, side, time in force or price combination is invalid', 'Market: no price; limit: price; stop: stop price; stop_limit: both. TIF: GTC, IOC, FOK, DAY.'),
    ('FS056', 'off_tick_price',           'a price is not a multiple of the instrument''s tick size', 'Round the price to the tick size (finshard.instruments.tick_size).'),
    ('FS057', 'off_lot_quantity',         'a quantity is not a multiple of the instrument''s lot size', 'Round the quantity to the lot size (finshard.instruments.lot_size).'),
    ('FS058', 'insufficient_buying_power','cash minus open-order reservations does not cover the order and its commission', 'Deposit, cancel open buy orders, or order less.'),
    ('FS059', 'insufficient_position',    'the sell exceeds the position (cash accounts cannot sell short)', 'Sell at most the quantity held minus open sell orders.'),
    ('FS060', 'order_not_found',          'no order has this id on this account',                  'Check the order id and the account id.'),
    ('FS061', 'order_not_cancellable',    'the order is already filled, cancelled or expired',     'Only open orders (new, partially filled, untriggered stops) can be cancelled.'),
    ('FS063', 'position_not_found',       'the account holds no position in this instrument',     'Buy the instrument first; finshard.positions lists holdings.'),
    ('FS062', 'invalid_alert',            'the price alert condition or price is invalid',         'Condition: above or below; price > 0.'),
    ('FS064', 'notification_not_found',   'no notification has this id on this account',           'Check the ids an event named; an event naming none is not finshard''s.'),
    ('FS070', 'invalid_period',           'a date range or month is invalid',                      'Pass p_from < p_to, or a month as a date.'),
    ('FS071', 'partition_missing',        'no partition covers the requested time',                'Create the missing months: finshard partitions create --dsn DSN, or SELECT finshard.create_partitions(); the finshard-partitions job keeps them ahead (finshard maintenance status).'),
    ('FS080', 'not_authorized',           'the caller''s role may not do this',                     'Ask an admin.'),
    ('FS081', 'session_required',         'the call needs an end user''s session and has none',     'Log the user in with finshard.login and pass its token as p_session.'),
    ('FS082', 'session_invalid',          'the session token is unknown or malformed',              'Pass the token finshard.login returned; log in again.'),
    ('FS083', 'session_expired',          'the session has expired',                               'Log in again (finshard.login).'),
    ('FS084', 'session_revoked',          'the session was revoked (logout, password change or deactivation)', 'Log in again (finshard.login).'),
    ('FS085', 'not_owner',                'the account or user belongs to another end user',        'A session may act only on its own user''s accounts.'),
    ('FS087', 'fx_rate_out_of_band',      'a new fx rate moves further from the rate in force than the allowed band', 'Check the rate; pass p_confirm => true to record it anyway.'),
    ('FS088', 'house_limit_exceeded',     'a conversion would take a house fx account beyond its limit', 'Ask an admin to raise the limit (finshard.set_house_limit) or convert less.'),
    ('FS090', 'key_unavailable',          'a finshard key file is missing or unreadable on this node', 'Run finshard install (it creates missing keys) or restore the key files into the data directory.')
ON CONFLICT (sqlstate) DO UPDATE
    SET name = EXCLUDED.name, meaning = EXCLUDED.meaning, hint = EXCLUDED.hint;
