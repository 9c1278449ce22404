CREATE OR REPLACE FUNCTION finshard._check_text(p_value text, p_name text, p_max_length integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    -- Text is stored verbatim (and only ever bound as a value): the length is the only limit.
    IF length(p_value) > p_max_length THEN
        PERFORM finshard.fail('FS006', format('%s is %s characters long; at most %s are allowed', p_name, length(p_value), p_max_length));
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._check_text(text, text, integer) IS 'Raises FS006 when p_value is longer than p_max_length characters';
REVOKE ALL ON FUNCTION finshard._check_text(text, text, integer) FROM PUBLIC;
