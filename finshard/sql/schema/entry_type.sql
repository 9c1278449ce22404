-- A domain, not a table CHECK (README, Design: "Domains, not table CHECKs, on hot tables").
DO $$ BEGIN
    IF to_regtype('finshard.entry_type') IS NULL THEN
        CREATE DOMAIN finshard.entry_type AS text CHECK (VALUE IN ('deposit', 'withdraw', 'transfer_in', 'transfer_out', 'fx_in', 'fx_out', 'fee', 'trade_buy', 'trade_sell'));
    END IF;
END $$;
COMMENT ON DOMAIN finshard.entry_type IS 'Kind of ledger entry (finshard.transactions.transaction_type)';
