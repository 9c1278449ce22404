CREATE OR REPLACE FUNCTION finshard.create_bank(p_name text, p_code text, p_email text DEFAULT NULL, p_phone text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_bank_id bigint;
BEGIN
    IF current_query() IS NULL OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM finshard._refuse_call('create_bank');
    END IF;
    -- A role acting as itself, for no end user (and the audit entry says so).
    PERFORM finshard._caller(NULL);
    PERFORM finshard._not_null(p_name, 'p_name');
    PERFORM finshard._not_null(p_code, 'p_code');
    PERFORM finshard._check_text(p_name, 'p_name', 200);
    PERFORM finshard._check_text(p_code, 'p_code', 32);
    PERFORM finshard._check_text(p_email, 'p_email', 254);
    PERFORM finshard._check_text(p_phone, 'p_phone', 32);
    -- Names, codes and addresses end up in statements and mails: no blanks, no control characters.
    IF btrim(p_name) = '' OR p_name ~ '[[:cntrl:]]' THEN
        PERFORM finshard.fail('FS005', format('bank name %L must be non-empty text without control characters', p_name));
    END IF;
    IF btrim(p_code) = '' OR p_code ~ '[[:cntrl:]]' THEN
        PERFORM finshard.fail('FS005', format('bank code %L must be non-empty text without control characters', p_code));
    END IF;
    -- The users' email rule (one @, a dot after it), without control characters either.
    IF p_email !~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:]]+\.[^@[:space:][:cntrl:]]+$' THEN
        PERFORM finshard.fail('FS005', format('bank email %L is not a valid address', p_email));
    END IF;
    IF p_phone ~ '[[:cntrl:]]' THEN
        PERFORM finshard.fail('FS005', format('bank phone %L must not contain control characters', p_phone));
    END IF;
    IF EXISTS (SELECT 1 FROM finshard.banks b WHERE b.code = p_code) THEN
        PERFORM finshard.fail('FS005', format('bank code %s is taken', p_code));
    END IF;
    INSERT INTO finshard.banks (name, code, email, phone) VALUES (p_name, p_code, p_email, p_phone)
    RETURNING bank_id INTO v_bank_id;
    PERFORM finshard._audit(0, 'create_bank', jsonb_build_object('bank_id', v_bank_id, 'code', p_code, 'name', p_name));
    RETURN v_bank_id;
END
$$;
COMMENT ON FUNCTION finshard.create_bank(text, text, text, text) IS 'Registers a bank (seed 004); returns bank_id. Raises FS001, FS005 (code taken; empty name or code, invalid email, control characters), FS006';
REVOKE ALL ON FUNCTION finshard.create_bank(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION finshard.create_bank(text, text, text, text) TO finshard_admin;
