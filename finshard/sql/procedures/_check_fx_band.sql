CREATE OR REPLACE FUNCTION finshard._check_fx_band(p_base_currency text, p_quote_currency text, p_rate numeric,
                                                   p_valid_from timestamptz)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_in_force numeric;
    v_band     numeric;
BEGIN
    -- A rate is money: a typo of a few digits would let one conversion mint millions. A new rate
    -- further than the band from the one in force at p_valid_from needs p_confirm.
    BEGIN
        v_in_force := finshard.fx_rate(p_base_currency, p_quote_currency, p_valid_from);
    EXCEPTION WHEN SQLSTATE 'FS018' THEN
        RETURN;  -- the pair's first rate: nothing to compare with
    END;
    v_band := coalesce((SELECT s.value::numeric FROM finshard.settings s WHERE s.key = 'fx_rate_band'), 0.10);
    IF abs(p_rate / v_in_force - 1) > v_band THEN
        PERFORM finshard.fail('FS087',
            format('rate %s %s/%s is %s%% away from the rate in force, %s (band: %s%%)', p_rate, p_base_currency,
                   p_quote_currency, round(abs(p_rate / v_in_force - 1) * 100, 2), v_in_force, v_band * 100));
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._check_fx_band(text, text, numeric, timestamptz) IS 'Raises FS087 when p_rate is further than the fx_rate_band setting from the rate in force';
REVOKE ALL ON FUNCTION finshard._check_fx_band(text, text, numeric, timestamptz) FROM PUBLIC;
