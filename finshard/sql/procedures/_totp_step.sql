CREATE OR REPLACE FUNCTION finshard._totp_step(p_secret bytea, p_code text, p_after_step bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_now  bigint := floor(extract(epoch FROM clock_timestamp()) / 30)::bigint;
    v_step bigint;
BEGIN
    IF p_code IS NULL OR p_code !~ '^[0-9]{6}$' THEN
        RETURN NULL;
    END IF;
    -- One step either side of now (a clock a little off, a code typed as it changed); only a step
    -- later than the last one used, so that a code works once.
    FOR v_step IN SELECT s FROM generate_series(v_now - 1, v_now + 1) s WHERE s > coalesce(p_after_step, -1) LOOP
        IF finshard._totp(p_secret, v_step) = p_code THEN
            RETURN v_step;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION finshard._totp_step(bytea, text, bigint) IS 'The time step (now, or one either side) whose 6-digit SHA-1 TOTP code of p_secret is p_code and that is later than p_after_step; NULL when none is';
REVOKE ALL ON FUNCTION finshard._totp_step(bytea, text, bigint) FROM PUBLIC;
