-- finshard 0.1.x recorded install runs only; from here each migration applied is a row, and every
-- row says the schema level it left. (The install that follows sets the columns' comments.)
ALTER TABLE finshard.schema_version
    ADD COLUMN IF NOT EXISTS migration integer,
    ADD COLUMN IF NOT EXISTS step text;
