CREATE TABLE IF NOT EXISTS finshard.quotes (
    instrument_id bigint        NOT NULL,
    quote_id      bigserial     NOT NULL,
    bid_price     numeric(20,8) NOT NULL,
    bid_size      numeric(20,8) NOT NULL,
    ask_price     numeric(20,8) NOT NULL,
    ask_size      numeric(20,8) NOT NULL,
    quoted_at     timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (instrument_id, quote_id, quoted_at)
) PARTITION BY RANGE (quoted_at);
COMMENT ON TABLE finshard.quotes IS 'Quote history (seed 003), monthly partitions, distributed by instrument_id';

CREATE INDEX IF NOT EXISTS quotes_instrument_time_idx ON finshard.quotes (instrument_id, quoted_at DESC);
