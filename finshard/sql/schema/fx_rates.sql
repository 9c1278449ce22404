CREATE TABLE IF NOT EXISTS finshard.fx_rates (
    base_currency  text        NOT NULL REFERENCES finshard.currencies (code),
    quote_currency text        NOT NULL REFERENCES finshard.currencies (code),
    rate           numeric(24,10) NOT NULL CHECK (rate > 0),
    valid_from     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (base_currency, quote_currency, valid_from),
    CONSTRAINT fx_rates_distinct_currencies_check CHECK (base_currency <> quote_currency)
);
COMMENT ON TABLE finshard.fx_rates IS 'Exchange rates: 1 base = rate quote from valid_from on; the newest row not in the future is in force (reference table)';
