CREATE TABLE IF NOT EXISTS finshard.currencies (
    code             text     PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
    name             text     NOT NULL,
    minor_units      smallint NOT NULL CHECK (minor_units BETWEEN 0 AND 4),
    house_account_id bigint,
    house_limit      numeric(22,4) CHECK (house_limit >= 0)
);
COMMENT ON TABLE finshard.currencies IS 'ISO 4217 currencies finshard accepts (reference table on Citus)';
COMMENT ON COLUMN finshard.currencies.minor_units IS 'decimals an amount in this currency may have (USD 2, JPY 0)';
COMMENT ON COLUMN finshard.currencies.house_limit IS 'how far below zero the house fx account may go (set_house_limit); NULL: the house_limit_default setting. A conversion beyond it is refused (FS088), so a bad rate cannot mint money without bound';
COMMENT ON COLUMN finshard.currencies.house_account_id IS 'the house fx account of this currency: cross-currency transfers pass through it so each currency''s total changes only by deposits and withdrawals';

INSERT INTO finshard.currencies (code, name, minor_units) VALUES
    ('USD', 'US Dollar', 2),
    ('EUR', 'Euro', 2),
    ('UZS', 'Uzbekistan Sum', 2)
ON CONFLICT (code) DO NOTHING;
