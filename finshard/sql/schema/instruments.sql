CREATE TABLE IF NOT EXISTS finshard.instruments (
    instrument_id   bigserial      PRIMARY KEY,
    symbol          text           NOT NULL,
    name            text           NOT NULL,
    instrument_type text           NOT NULL DEFAULT 'stock' CHECK (instrument_type IN ('stock', 'etf', 'bond', 'crypto', 'fx', 'future', 'option')),
    exchange        text,
    currency        text           NOT NULL DEFAULT 'USD' REFERENCES finshard.currencies (code),
    tick_size       numeric(20,8)  NOT NULL DEFAULT 0.01 CHECK (tick_size > 0),
    lot_size        numeric(20,8)  NOT NULL DEFAULT 1 CHECK (lot_size > 0),
    sector          text,
    industry        text,
    is_active       boolean        NOT NULL DEFAULT true,
    bid_price       numeric(20,8),
    bid_size        numeric(20,8),
    ask_price       numeric(20,8),
    ask_size        numeric(20,8),
    quoted_at       timestamptz,
    created_at      timestamptz    NOT NULL DEFAULT now()
);
COMMENT ON TABLE finshard.instruments IS 'Tradable instruments with their latest quote (reference table on Citus: every node reads the quote locally, so an order never leaves its account''s shard)';
COMMENT ON COLUMN finshard.instruments.bid_price IS 'latest quote, written by update_quote; history is in finshard.quotes';

-- Seed 002/003: symbol lookups (unique, case-insensitive), prefix search, sector/industry analysis.
CREATE UNIQUE INDEX IF NOT EXISTS instruments_symbol_key ON finshard.instruments (upper(symbol));
CREATE INDEX IF NOT EXISTS instruments_symbol_prefix_idx ON finshard.instruments (upper(symbol) text_pattern_ops, instrument_id);
CREATE INDEX IF NOT EXISTS instruments_name_prefix_idx ON finshard.instruments (lower(name) text_pattern_ops, instrument_id);
CREATE INDEX IF NOT EXISTS instruments_sector_industry_idx ON finshard.instruments (sector, industry);
