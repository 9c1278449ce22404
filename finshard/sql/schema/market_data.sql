CREATE TABLE IF NOT EXISTS finshard.market_data (
    instrument_id bigint        NOT NULL,
    bucket        timestamptz   NOT NULL,
    open          numeric(20,8) NOT NULL,
    high          numeric(20,8) NOT NULL,
    low           numeric(20,8) NOT NULL,
    close         numeric(20,8) NOT NULL,
    volume        numeric(24,8) NOT NULL DEFAULT 0 CHECK (volume >= 0),
    PRIMARY KEY (instrument_id, bucket),
    CONSTRAINT market_data_ohlc_check CHECK (low <= open AND low <= close AND high >= open AND high >= close)
) PARTITION BY RANGE (bucket);
COMMENT ON TABLE finshard.market_data IS 'OHLCV one-minute bars (seed 003); finshard.candles rolls them up to any interval. Monthly partitions, distributed by instrument_id';
COMMENT ON COLUMN finshard.market_data.bucket IS 'start of the one-minute bar';
