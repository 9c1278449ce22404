CREATE OR REPLACE FUNCTION finshard._mfa_match(p_user_id bigint, p_otp text, OUT step bigint, OUT recovery text)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_user record;
BEGIN
    SELECT u.totp_secret, u.totp_key_version, u.totp_last_step, u.recovery_codes INTO v_user
      FROM finshard.users u WHERE u.user_id = p_user_id;
    IF v_user.totp_secret IS NULL OR p_otp IS NULL OR length(p_otp) > 64 THEN
        RETURN;
    END IF;
    -- Six digits: a TOTP code; anything else may be a recovery code.
    step := finshard._totp_step(decode(finshard._decrypt_pii(v_user.totp_secret, v_user.totp_key_version) ->> 'totp', 'hex'),
                                p_otp, v_user.totp_last_step);
    IF step IS NULL AND finshard._recovery_hash(p_otp) = ANY (v_user.recovery_codes) THEN
        recovery := finshard._recovery_hash(p_otp);
    END IF;
END
$$;
COMMENT ON FUNCTION finshard._mfa_match(bigint, text) IS 'Which second factor p_otp is for user p_user_id: the TOTP step it matches (unused, within one step of now), or the hash of the unused recovery code it is; both NULL when neither';
REVOKE ALL ON FUNCTION finshard._mfa_match(bigint, text) FROM PUBLIC;
