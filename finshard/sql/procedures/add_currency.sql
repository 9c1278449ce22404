CREATE OR REPLACE FUNCTION finshard.add_currency(p_code text, p_name text, p_minor_units smallint DEFAULT 2)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('add_currency');
    END IF;
    -- A role acting as itself, for no end user (and the audit entry says so).
    PERFORM finshard._caller(NULL);
    PERFORM finshard._not_null(p_code, 'p_code');
    PERFORM finshard._not_null(p_name, 'p_name');
    PERFORM finshard._not_null(p_minor_units, 'p_minor_units');
    IF p_code !~ '^[A-Z]{3}$' THEN
        PERFORM finshard.fail('FS005', format('currency code %L is not three capital letters (ISO 4217)', left(p_code, 20)));
    END IF;
    IF p_minor_units NOT BETWEEN 0 AND 4 THEN
        PERFORM finshard.fail('FS005', format('minor units %s is not between 0 and 4', p_minor_units));
    END IF;
    PERFORM finshard._check_text(p_name, 'p_name', 100);
    -- An existing code is refused, not skipped: skipping would audit a change that did not happen.
    IF EXISTS (SELECT 1 FROM finshard.currencies c WHERE c.code = p_code) THEN
        PERFORM finshard.fail('FS005', format('currency %s already exists', p_code));
    END IF;
    INSERT INTO finshard.currencies (code, name, minor_units) VALUES (p_code, p_name, p_minor_units);
    -- Its house fx account, so cross-currency transfers can go through it.
    PERFORM finshard._bootstrap();
    PERFORM finshard._audit(0, 'add_currency', jsonb_build_object('code', p_code, 'minor_units', p_minor_units));
END
$$;
COMMENT ON FUNCTION finshard.add_currency(text, text, smallint) IS 'Adds an ISO 4217 currency and its house fx account. Raises FS001, FS005 (also when the code exists), FS006';
REVOKE ALL ON FUNCTION finshard.add_currency(text, text, smallint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.add_currency(text, text, smallint) TO finshard_admin;
