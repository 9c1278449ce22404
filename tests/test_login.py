"""Issue 17, parts 3 and 4: a login that resists guessing (lockout, no enumeration, every attempt
counted and audited whatever the caller does) and TOTP multi-factor authentication (RFC 6238)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import statistics
import struct
import time
import uuid
from typing import Any

import psycopg
import pytest

from finshard import errors
from finshard.router import Router
from tests.test_cli_cluster import run

PASSWORD = "correct horse"


def _user(conn: psycopg.Connection, role: str = "trader") -> tuple[int, str]:
    name = f"l{uuid.uuid4().hex[:12]}"
    uid = conn.execute("SELECT finshard.create_user(%s, %s, %s, %s)", (name, f"{name}@example.com", PASSWORD, role)).fetchone()[0]
    return uid, name


def _fail(conn: psycopg.Connection, sql: str, params: tuple[Any, ...] = ()) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as err:
        conn.execute(sql, params)
    return err.value


def _login(conn: psycopg.Connection, login: str, password: str = PASSWORD, otp: str | None = None) -> str:
    """'ok' or the SQLSTATE of finshard.login."""
    try:
        conn.execute("SELECT token FROM finshard.login(%s, %s, p_otp => %s)", (login, password, otp))
        return "ok"
    except psycopg.Error as exc:
        return exc.sqlstate or "?"


def _problems(conn: psycopg.Connection, uid: int) -> list[str]:
    """audit_verify's problems with user ``uid``'s login chain."""
    return [p for (p,) in conn.execute("SELECT problem FROM finshard.audit_verify() WHERE account_id IS NULL "
                                       "AND problem LIKE %s", (f"user {uid}'s %",)).fetchall()]


def _counted(conn: psycopg.Connection, uid: int) -> int:
    return conn.execute("SELECT failed_logins FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()[0]


# -- TOTP (RFC 6238) -------------------------------------------------------------------------------

SEEDS = {"sha1": b"12345678901234567890", "sha256": b"12345678901234567890123456789012",
         "sha512": b"1234567890123456789012345678901234567890123456789012345678901234"}
# RFC 6238 Appendix B: time -> (SHA1, SHA256, SHA512), 8 digits.
VECTORS = {
    59: ("94287082", "46119246", "90693936"),
    1111111109: ("07081804", "68084774", "25091201"),
    1111111111: ("14050471", "67062674", "99943326"),
    1234567890: ("89005924", "91819424", "93441116"),
    2000000000: ("69279037", "90698825", "38618901"),
    20000000000: ("65353130", "77737706", "47863826"),
}


def test_totp_gives_the_rfc_6238_test_vectors(plain):
    with plain.connect() as conn:
        for t, codes in VECTORS.items():
            for algorithm, expected in zip(("sha1", "sha256", "sha512"), codes):
                got = conn.execute("SELECT finshard._totp(%s, %s, 8, %s)", (SEEDS[algorithm], t // 30, algorithm)).fetchone()[0]
                assert got == expected, (t, algorithm)


def totp(secret_b32: str, step: int) -> str:
    """An independent RFC 6238 code (SHA-1, 6 digits), as an authenticator app computes it."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 15
    return f"{(struct.unpack('>I', mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 10**6:06d}"


def _step_now() -> int:
    """The current 30 s step, waiting first when it is about to change (the test needs a few seconds)."""
    while time.time() % 30 > 22:
        time.sleep(0.5)
    return int(time.time() // 30)


def _enrolled(conn: psycopg.Connection, name: str) -> tuple[str, list[str], int]:
    """MFA on for ``name``: (secret, recovery codes, step of the code that confirmed it)."""
    token = conn.execute("SELECT token FROM finshard.login(%s, %s)", (name, PASSWORD)).fetchone()[0]
    secret, uri = conn.execute("SELECT secret, uri FROM finshard.enroll_mfa(%s, %s)", (token, PASSWORD)).fetchone()
    assert uri == f"otpauth://totp/finshard:{name}?secret={secret}&issuer=finshard&algorithm=SHA1&digits=6&period=30"
    step = _step_now()
    codes = conn.execute("SELECT finshard.confirm_mfa(%s, %s)", (token, totp(secret, step - 1))).fetchone()[0]
    return secret, codes, step - 1


def test_mfa_enrolment_needs_the_password_and_a_first_code(db):
    with db.connect() as conn:
        uid, name = _user(conn)
        token = conn.execute("SELECT token FROM finshard.login(%s, %s)", (name, PASSWORD)).fetchone()[0]
        assert _fail(conn, "SELECT * FROM finshard.enroll_mfa(%s, 'wrong password')", (token,)).sqlstate == "FS024"
        assert _fail(conn, "SELECT finshard.confirm_mfa(%s, '123456')", (token,)).sqlstate == "FS086"
        secret, _uri = conn.execute("SELECT secret, uri FROM finshard.enroll_mfa(%s, %s)", (token, PASSWORD)).fetchone()
        raw = base64.b32decode(secret)
        assert len(secret) == 32 and len(raw) == 20
        stored = conn.execute("SELECT totp_secret, totp_enabled_at FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()
        assert secret.encode() not in bytes(stored[0]) and raw not in bytes(stored[0])
        # Not on until confirmed: the password alone still logs in.
        assert stored[1] is None and _login(conn, name) == "ok"
        step = _step_now()
        assert _fail(conn, "SELECT finshard.confirm_mfa(%s, %s)", (token, totp(secret, step + 3))).sqlstate == "FS029"
        other = conn.execute("SELECT token FROM finshard.login(%s, %s)", (name, PASSWORD)).fetchone()[0]
        codes = conn.execute("SELECT finshard.confirm_mfa(%s, %s)", (token, totp(secret, step))).fetchone()[0]
        assert len(codes) == 10 and len(set(codes)) == 10
        hashes = conn.execute("SELECT recovery_codes FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()[0]
        assert len(hashes) == 10 and not set(codes) & set(hashes)
        # Sessions opened before MFA end; the one that turned it on goes on.
        assert conn.execute("SELECT count(*) FROM finshard.sessions WHERE token_hash = sha256(convert_to(%s, 'UTF8')) "
                            "AND revoked_at IS NOT NULL", (other,)).fetchone()[0] == 1
        assert _fail(conn, "SELECT * FROM finshard.enroll_mfa(%s, %s)", (token, PASSWORD)).sqlstate == "FS086"


def test_a_login_with_mfa_takes_a_code_within_one_step_and_each_code_once(db):
    with db.connect() as conn:
        uid, name = _user(conn)
        secret, _codes, used = _enrolled(conn, name)
        step = used + 1
        assert _login(conn, name) == "FS028"
        assert _login(conn, name, otp=totp(secret, used)) == "FS029"  # the confirming code, again
        assert _login(conn, name, otp=totp(secret, step + 2)) == "FS029"  # two steps ahead
        assert _login(conn, name, otp=totp(secret, step - 2)) == "FS029"  # two steps behind
        assert _counted(conn, uid) == 4  # each attempt counted, the code-less one too
        assert _login(conn, name, otp=totp(secret, step)) == "ok"
        assert _counted(conn, uid) == 0
        assert _login(conn, name, otp=totp(secret, step + 1)) == "ok"  # the next step (a fast clock)
        assert _login(conn, name, otp=totp(secret, step)) == "FS029"  # earlier than the last one used
        assert _login(conn, name, otp=totp(secret, step + 1)) == "FS029"  # used
        assert _login(conn, name, "wrong password", totp(secret, step)) == "FS024"  # the password first
        assert _login(conn, name, otp="12345") == "FS029"
        # The fifth failure locks: a wrong code counts like a wrong password.
        assert _login(conn, name, otp="000000") in ("FS029", "FS024") and _login(conn, name, otp=totp(secret, step + 1)) == "FS027"


def test_recovery_codes_work_once_and_an_admin_resets_mfa(db):
    with db.connect() as conn:
        uid, name = _user(conn)
        root, root_name = _user(conn, "admin")
        _secret, codes, _used = _enrolled(conn, name)
        assert _login(conn, name, otp=codes[0].lower().replace("-", " ")) == "ok"
        assert _login(conn, name, otp=codes[0]) == "FS029"
        assert len(conn.execute("SELECT recovery_codes FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()[0]) == 9
        # Turning it off takes the password and a code; a stolen session alone cannot.
        token = conn.execute("SELECT token FROM finshard.login(%s, %s, p_otp => %s)", (name, PASSWORD, codes[1])).fetchone()[0]
        assert _fail(conn, "SELECT finshard.disable_mfa(%s, %s, '000000')", (token, PASSWORD)).sqlstate == "FS029"
        conn.execute("SELECT finshard.disable_mfa(%s, %s, %s)", (token, PASSWORD, codes[2]))
        assert _login(conn, name) == "ok"
        assert _fail(conn, "SELECT finshard.disable_mfa(%s, %s, %s)", (token, PASSWORD, codes[3])).sqlstate == "FS086"
        # Lost phone: an admin user's session (or finshard_admin) takes MFA off; a trader's may not.
        _secret, new_codes, _used = _enrolled(conn, name)
        trader = conn.execute("SELECT token FROM finshard.login(%s, %s, p_otp => %s)", (name, PASSWORD, new_codes[0])).fetchone()[0]
        assert _fail(conn, "SELECT finshard.reset_mfa(%s::bigint, %s)", (uid, trader)).sqlstate == "FS080"
        admin = conn.execute("SELECT token FROM finshard.login(%s, %s)", (root_name, PASSWORD)).fetchone()[0]
        conn.execute("SELECT finshard.reset_mfa(%s::bigint, %s)", (uid, admin))
        assert _login(conn, name) == "ok"
        assert conn.execute("SELECT totp_secret IS NULL AND recovery_codes IS NULL FROM finshard.users WHERE user_id = %s",
                            (uid,)).fetchone()[0]
        actions = [a for (a,) in conn.execute("SELECT action FROM finshard.user_audit_log WHERE user_id = %s ORDER BY audit_seq",
                                              (uid,)).fetchall()]
        assert {"mfa_enrolled", "mfa_enabled", "mfa_disabled", "mfa_reset"} <= set(actions)


def test_the_codes_of_a_previous_enrolment_are_gone(db):
    with db.connect() as conn:
        uid, name = _user(conn)
        _secret, old_codes, _used = _enrolled(conn, name)
        conn.execute("SELECT finshard.reset_mfa(%s::bigint)", (uid,))
        secret, _codes, used = _enrolled(conn, name)
        assert _login(conn, name, otp=old_codes[0]) == "FS029"
        assert _login(conn, name, otp=totp(secret, used + 1)) == "ok"


def test_keys_rotate_reencrypts_totp_secrets(db):
    with db.connect() as conn:
        uid, name = _user(conn)
        secret, _codes, used = _enrolled(conn, name)
        before = conn.execute("SELECT totp_secret, totp_key_version FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()
    res = run("keys", "rotate", "--dsn", db.dsn, "--json")
    assert res.returncode == 0, res.stderr
    version = json.loads(res.stdout)["key_version"]
    with db.connect() as conn:
        after = conn.execute("SELECT totp_secret, totp_key_version FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()
        assert after[1] == version > before[1] and after[0] != before[0]
        assert _login(conn, name, otp=totp(secret, used + 1)) == "ok"


def test_the_router_logs_in_with_a_code(db):
    with db.connect() as conn:
        _uid, name = _user(conn)
    with Router.connect(db.dsn) as r:
        me = r.session(r.login(login=name, password=PASSWORD)["token"])
        enrolment = me.enroll_mfa(password=PASSWORD)
        step = _step_now()
        codes = me.confirm_mfa(code=totp(enrolment["secret"], step))
        assert len(codes) == 10
        with pytest.raises(errors.MfaCodeRequired):
            r.login(login=name, password=PASSWORD)
        with pytest.raises(errors.MfaCodeInvalid):
            r.login(login=name, password=PASSWORD, otp=totp(enrolment["secret"], step))
        assert r.login(login=name, password=PASSWORD, otp=totp(enrolment["secret"], step + 1))["token"].startswith("fss_")


# -- lockout ----------------------------------------------------------------------------------------

def test_five_attempts_lock_the_login_until_an_admin_unlocks_it(db):
    with db.connect() as conn:
        uid, name = _user(conn)
        for _ in range(5):
            assert _login(conn, name, "wrong password") == "FS024"
        # Locked: the right password is refused, with the lock's own code, the password unlooked at.
        err = _fail(conn, "SELECT finshard.authenticate(%s, %s)", (name, PASSWORD))
        assert err.sqlstate == "FS027" and "locked until" in err.diag.message_primary
        assert _login(conn, name, "wrong password") == "FS027"
        assert conn.execute("SELECT locked_until > now() FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()[0]
        # A trader's session may not unlock anyone; finshard_admin (here a superuser) may.
        trader = conn.execute("SELECT token FROM finshard.login(%s, %s)", (_user(conn)[1], PASSWORD)).fetchone()[0]
        assert _fail(conn, "SELECT finshard.unlock_user(%s::bigint, %s)", (uid, trader)).sqlstate == "FS080"
        conn.execute("SELECT finshard.unlock_user(%s::bigint)", (uid,))
        assert _login(conn, name) == "ok"
        assert conn.execute("SELECT failed_logins, locked_until FROM finshard.users WHERE user_id = %s", (uid,)).fetchone() == (0, None)
        actions = [a for (a,) in conn.execute("SELECT action FROM finshard.user_audit_log WHERE user_id = %s ORDER BY audit_seq",
                                              (uid,)).fetchall()]
        assert actions[-3:] == ["unlocked", "authenticated", "login"]


def test_a_success_resets_the_count_and_a_lock_ends_by_itself(db):
    with db.connect() as conn:
        uid, name = _user(conn)
        for _ in range(4):
            assert _login(conn, name, "wrong password") == "FS024"
        assert _login(conn, name) == "ok" and _counted(conn, uid) == 0
        for _ in range(5):
            assert _login(conn, name, "wrong password") == "FS024"
        assert _login(conn, name) == "FS027"
        # As when login_lockout has passed: the next attempt starts a new window.
        conn.execute("UPDATE finshard.users SET locked_until = now() - interval '1 second' WHERE user_id = %s", (uid,))
        assert _login(conn, name) == "ok"


def test_an_unknown_login_locks_like_a_real_one(db):
    """Otherwise a lock would tell who exists: five wrong tries, and only real logins answer FS027."""
    with db.connect() as conn:
        _uid, name = _user(conn)
        ghost = f"ghost{uuid.uuid4().hex[:10]}"
        answers = {}
        for login in (name, ghost):
            for _ in range(5):
                assert _login(conn, login, "wrong password") == "FS024"
            err = _fail(conn, "SELECT finshard.authenticate(%s, 'wrong password')", (login,))
            answers[login] = (err.sqlstate, err.diag.message_primary.replace(login, "L").split(" until ")[0], err.diag.message_hint)
        assert answers[name] == answers[ghost] and answers[name][0] == "FS027"
        # The typed text is not kept: only its keyed hash.
        assert conn.execute("SELECT count(*) FROM finshard.unknown_logins WHERE login_hmac = %s", (ghost,)).fetchone()[0] == 0
        assert ghost not in json.dumps(conn.execute("SELECT array_agg(details) FROM finshard.user_audit_log WHERE user_id = 0")
                                       .fetchone()[0])


def test_unknown_wrong_and_deactivated_answer_alike(db):
    with db.connect() as conn:
        _uid, name = _user(conn)
        gone, gone_name = _user(conn)
        conn.execute("SELECT finshard.deactivate_user(%s::bigint)", (gone,))
        seen = set()
        for login, password in ((f"nobody{uuid.uuid4().hex[:8]}", PASSWORD), (name, "wrong password"), (gone_name, PASSWORD)):
            err = _fail(conn, "SELECT finshard.authenticate(%s, %s)", (login, password))
            seen.add((err.sqlstate, err.diag.message_primary.replace(login, "L"), err.diag.message_detail, err.diag.message_hint))
        assert len(seen) == 1 and next(iter(seen))[0] == "FS024"


def test_unknown_wrong_and_deactivated_take_the_same_time(db):
    """bcrypt runs in all three cases, and each records the same way: medians of 30 interleaved tries
    each may differ by at most 20%. Each try uses a login of its own, so that none is locked."""
    tries = 30
    with db.connect() as conn:
        wrong = [_user(conn)[1] for _ in range(tries)]
        gone = []
        for _ in range(tries):
            uid, name = _user(conn)
            conn.execute("SELECT finshard.deactivate_user(%s::bigint)", (uid,))
            gone.append(name)
        unknown = [f"nobody{uuid.uuid4().hex[:10]}" for _ in range(tries)]
        times: dict[str, list[float]] = {"unknown": [], "wrong password": [], "deactivated": []}
        for i in range(tries):
            for case, login, password in (("unknown", unknown[i], PASSWORD), ("wrong password", wrong[i], "wrong password"),
                                          ("deactivated", gone[i], PASSWORD)):
                start = time.perf_counter()
                assert _login(conn, login, password) == "FS024"
                times[case].append(time.perf_counter() - start)
    medians = {case: statistics.median(t) for case, t in times.items()}
    print("login failure medians (ms):", {case: round(m * 1000, 1) for case, m in medians.items()})
    assert max(medians.values()) <= 1.2 * min(medians.values()), medians


# -- every attempt recorded, whatever the caller does ----------------------------------------------

def test_an_attempt_is_counted_whatever_the_caller_sets_or_rolls_back(db):
    with db.connect() as conn:
        uid, name = _user(conn)
        conn.execute("CREATE SCHEMA IF NOT EXISTS evil")
        for setup in ("SET LOCAL search_path = evil, public, pg_catalog",
                      "SET LOCAL finshard.loopback_conninfo = 'host=203.0.113.1 connect_timeout=1'",
                      "SET LOCAL lock_timeout = '1ms'",
                      "SET LOCAL default_transaction_read_only = on",
                      "SET TRANSACTION READ ONLY"):
            before = _counted(conn, uid)
            conn.execute("BEGIN")
            conn.execute(setup)
            assert _login(conn, name, "wrong password") == "FS024", setup
            conn.execute("ROLLBACK")
            assert _counted(conn, uid) == before + 1, setup
        # A right password in a transaction the caller then rolls back: a success, which resets the
        # count all the same (else a retried call that fails after it would lock its user out).
        conn.execute("SELECT finshard.unlock_user(%s::bigint)", (uid,))
        assert _login(conn, name, "wrong password") == "FS024" and _counted(conn, uid) == 1
        conn.execute("BEGIN")
        conn.execute("SELECT finshard.authenticate(%s, %s)", (name, PASSWORD))
        conn.execute("ROLLBACK")
        assert _counted(conn, uid) == 0


def test_a_right_password_in_a_call_that_fails_later_does_not_lock_the_user_out(db):
    """update_user checks the current password, then refuses a taken email: retried, it must not
    count as failed logins."""
    with db.connect() as conn:
        uid, name = _user(conn)
        _other, taken = _user(conn)
        token = conn.execute("SELECT token FROM finshard.login(%s, %s)", (name, PASSWORD)).fetchone()[0]
        for _ in range(6):
            err = _fail(conn, "SELECT finshard.update_user(%s::bigint, p_email => %s, p_current_password => %s, p_session => %s)",
                        (uid, f"{taken}@example.com", PASSWORD, token))
            assert err.sqlstate == "FS023"
        assert _counted(conn, uid) == 0
        assert _login(conn, name) == "ok"
        # A wrong current password still counts, and locks.
        for _ in range(5):
            err = _fail(conn, "SELECT finshard.update_user(%s::bigint, p_email => %s, p_current_password => %s, p_session => %s)",
                        (uid, "new@example.com", "wrong password", token))
            assert err.sqlstate == "FS024"
        assert _login(conn, name) == "FS027"


def test_a_login_whose_attempt_cannot_be_recorded_is_refused(db):
    """Fail closed: while another transaction holds the user's row, the attempt cannot be counted,
    and even the right password is refused (FS089), after the loopback's timeout, not forever. The
    answer waits for the count: no cancel or timeout of the caller gets an answer uncounted."""
    with db.connect() as conn:
        uid, name = _user(conn)
        with psycopg.connect(db.dsn) as holder:
            holder.execute("SELECT 1 FROM finshard.users WHERE user_id = %s FOR UPDATE", (uid,))
            start = time.monotonic()
            assert _login(conn, name) == "FS089"
            assert time.monotonic() - start < 20
            holder.rollback()
        assert _login(conn, name) == "ok"


def test_a_login_in_the_block_that_opened_the_users_account_does_not_wait(db):
    """open_account holds a key-share lock on its user until commit; the count over the loopback
    must not queue behind it (it would wait for its timeout, then refuse with FS089)."""
    with db.connect() as conn:
        uid, name = _user(conn)
    with psycopg.connect(db.dsn) as conn:  # one transaction block
        conn.execute("SELECT finshard.open_account(%s::bigint)", (uid,))
        start = time.monotonic()
        assert _login(conn, name) == "ok"
        assert time.monotonic() - start < 3
        conn.commit()


# -- the audit of logins ----------------------------------------------------------------------------

def test_logins_and_logouts_are_audited_without_secrets_and_verify(db):
    with db.connect() as conn:
        uid, name = _user(conn)
        assert _login(conn, name, "wrong password") == "FS024"
        token = conn.execute("SELECT token FROM finshard.login(%s, %s)", (name, PASSWORD)).fetchone()[0]
        conn.execute("SELECT finshard.logout(%s)", (token,))
        assert _fail(conn, "SELECT finshard.logout(%s)", (token,)).sqlstate == "FS084"
        rows = conn.execute("SELECT action, details, actor FROM finshard.user_audit_log WHERE user_id = %s ORDER BY audit_seq",
                            (uid,)).fetchall()
        assert [r[0] for r in rows] == ["login_failed", "authenticated", "login", "logout", "logout_failed"]
        assert rows[0][1] == {"reason": "password", "attempts": 1} and all(r[2] == "postgres" for r in rows)
        text = json.dumps([r[1] for r in rows])
        assert "wrong password" not in text and PASSWORD not in text and token not in text
        assert _problems(conn, uid) == [] and _problems(conn, 0) == []


def test_audit_verify_finds_a_login_entry_altered_or_cut(db, scratch):
    with db.connect() as conn:
        uid, name = _user(conn)
        for password in ("wrong password", PASSWORD):
            _login(conn, name, password)
        saved = conn.execute("SELECT details FROM finshard.user_audit_log WHERE user_id = %s AND audit_seq = 1", (uid,)).fetchone()
        try:
            conn.execute("UPDATE finshard.user_audit_log SET details = '{\"reason\": \"locked\"}' WHERE user_id = %s AND audit_seq = 1", (uid,))
            assert any(p.startswith(f"user {uid}'s login audit chain: hash does not match") for p in _problems(conn, uid))
        finally:
            conn.execute("UPDATE finshard.user_audit_log SET details = %s WHERE user_id = %s AND audit_seq = 1",
                         (json.dumps(saved[0]), uid))
        # The newest entry removed and the head moved back: the CLI, against a checkpoint, finds it.
        path = str(scratch("finshard-login-") / "checkpoint.json")
        res = run("audit", "checkpoint", "--dsn", db.dsn, "--out", path)
        assert res.returncode == 0, res.stderr
        last = conn.execute("SELECT audit_seq, hash, prev_hash, actor, action, details, created_at FROM finshard.user_audit_log "
                            "WHERE user_id = %s ORDER BY audit_seq DESC LIMIT 1", (uid,)).fetchone()
        head = conn.execute("SELECT audit_seq, audit_hash, audit_prev_hash FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()
        prev = conn.execute("SELECT hash, prev_hash FROM finshard.user_audit_log WHERE user_id = %s AND audit_seq = %s",
                            (uid, last[0] - 1)).fetchone()
        try:
            conn.execute("DELETE FROM finshard.user_audit_log WHERE user_id = %s AND audit_seq = %s", (uid, last[0]))
            conn.execute("UPDATE finshard.users SET audit_seq = %s, audit_hash = %s, audit_prev_hash = %s WHERE user_id = %s",
                         (last[0] - 1, prev[0], prev[1], uid))
            assert _problems(conn, uid) == []  # a valid prefix, without the checkpoint
            res = run("audit", "verify", "--dsn", db.dsn, "--json", "--checkpoint", path)
            problems = json.loads(res.stdout)["problems"]
            assert res.returncode != 0 and any(f"user {uid}'s login audit chain is shorter" in p["problem"] for p in problems)
        finally:
            conn.execute("INSERT INTO finshard.user_audit_log (user_id, audit_seq, hash, prev_hash, actor, action, details, created_at) "
                         "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", (uid, *last[:5], json.dumps(last[5]), last[6]))
            conn.execute("UPDATE finshard.users SET audit_seq = %s, audit_hash = %s, audit_prev_hash = %s WHERE user_id = %s",
                         (*head, uid))
        assert _problems(conn, uid) == []
