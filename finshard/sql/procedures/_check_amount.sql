CREATE OR REPLACE FUNCTION finshard._check_amount(p_amount numeric, p_currency text, p_name text DEFAULT 'p_amount',
                                                  p_minor_units smallint DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_minor smallint := p_minor_units;
BEGIN
    IF p_amount IS NULL THEN
        PERFORM finshard.fail('FS001', format('%s must not be NULL', p_name));
    END IF;
    -- NaN compares greater than every number, so it is tested by name.
    IF p_amount = 'NaN'::numeric OR p_amount IN ('Infinity'::numeric, '-Infinity'::numeric) OR p_amount <= 0 THEN
        PERFORM finshard.fail('FS002', format('%s must be a finite amount greater than zero, not %s', p_name, p_amount));
    END IF;
    IF p_amount >= 1e18 THEN
        PERFORM finshard.fail('FS004', format('%s %s is beyond the largest amount a balance holds (< 1e18)', p_name, p_amount));
    END IF;
    IF v_minor IS NULL THEN
        SELECT c.minor_units INTO v_minor FROM finshard.currencies c WHERE c.code = p_currency;
        IF NOT FOUND THEN
            PERFORM finshard.fail('FS017', format('currency %s is not in finshard.currencies', p_currency));
        END IF;
    END IF;
    IF p_amount <> round(p_amount, v_minor) THEN
        PERFORM finshard.fail('FS003', format('%s %s has more than %s decimals, the most %s allows', p_name, p_amount, v_minor, p_currency));
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._check_amount(numeric, text, text, smallint) IS 'Raises FS001/FS002/FS003/FS004/FS017 unless p_amount is a valid positive amount in p_currency';
REVOKE ALL ON FUNCTION finshard._check_amount(numeric, text, text, smallint) FROM PUBLIC;
