CREATE TABLE IF NOT EXISTS finshard.banks (
    bank_id    bigserial   PRIMARY KEY,
    name       text        NOT NULL,
    code       text        NOT NULL UNIQUE,
    email      text,
    phone      text,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE finshard.banks IS 'Banks that hold customer accounts (seed 004; reference table on Citus)';
COMMENT ON COLUMN finshard.banks.code IS 'the bank''s own code (BIC, IFSC...): unique';
