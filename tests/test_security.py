"""Issue 15: credentials and personal data protected, notifications a stranger cannot read or
forge unnoticed, money not minted by reference data, and an audit that cannot be rewritten."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from decimal import Decimal

import psycopg
import pytest

from finshard import errors
from finshard.router import Router
from tests.helpers import assert_rejected, create_test_login, new_account, new_user, snapshot
from tests.test_cli_cluster import assert_one_line_error, run


def _user(conn: psycopg.Connection, **fields: str) -> int:
    name = f"p{uuid.uuid4().hex[:12]}"
    return conn.execute("SELECT finshard.create_user(%s, %s, 'correct horse', p_first_name => %s, p_last_name => %s, "
                        "p_phone => %s, p_address => %s, p_pan => %s)",
                        (name, f"{name}@example.com", fields.get("first"), fields.get("last"), fields.get("phone"),
                         fields.get("address"), fields.get("pan"))).fetchone()[0]


def test_personal_data_is_encrypted_at_rest_and_read_through_user_profile(db):
    with db.connect() as conn:
        uid = _user(conn, first="Ada", last="Lovelace", phone="+44 20 7946 0958", address="12 Marylebone Rd", pan="4111111111111111")
        raw = conn.execute("SELECT row_to_json(u)::text FROM finshard.users u WHERE user_id = %s", (uid,)).fetchone()[0]
        for secret in ("Ada", "Lovelace", "7946", "Marylebone", "4111111111111111"):
            assert secret not in raw
        profile = conn.execute("SELECT first_name, last_name, phone, address, pan_last4 FROM finshard.user_profile(%s::bigint)",
                               (uid,)).fetchone()
        assert profile == ("Ada", "Lovelace", "+44 20 7946 0958", "12 Marylebone Rd", "1111")


def test_the_pan_is_a_keyed_hash_that_the_card_number_alone_cannot_reproduce(db):
    with db.connect() as conn:
        pan = "4000056655665556"
        uid = _user(conn, pan=pan)
        stored, unkeyed = conn.execute("SELECT pan_hmac, encode(sha256(convert_to(%s, 'UTF8')), 'hex') FROM finshard.users "
                                       "WHERE user_id = %s", (pan, uid)).fetchone()
        keyed = conn.execute("SELECT encode(hmac(convert_to(%s, 'UTF8'), decode(split_part(split_part(pg_read_file('finshard_pan.key'), "
                             "E'\\n', 1), ' ', 2), 'hex'), 'sha256'), 'hex')", (pan,)).fetchone()[0]
    assert stored != unkeyed and stored == keyed


def test_audit_details_name_the_changed_fields_never_their_values(db):
    with db.connect() as conn:
        uid = _user(conn, phone="+1 202 555 0100")
        conn.execute("SELECT finshard.update_user(%s::bigint, p_email => %s, p_phone => '+1 202 555 0199', "
                     "p_address => '1600 Pennsylvania Ave')", (uid, f"new{uid}@example.com"))
        details = conn.execute("SELECT details FROM finshard.audit_log WHERE account_id = 0 AND action = 'update_user' "
                               "AND details ->> 'user_id' = %s::text", (uid,)).fetchone()[0]
        assert details == {"user_id": uid, "fields": ["email", "phone", "address"]}
        created = conn.execute("SELECT details::text FROM finshard.audit_log WHERE account_id = 0 AND action = 'create_user' "
                               "AND details ->> 'user_id' = %s::text", (uid,)).fetchone()[0]
        assert "0100" not in created and "@example.com" not in created
        # update_user works on Citus too (no volatile function inside the distributed UPDATE).
        assert conn.execute("SELECT phone, email FROM finshard.user_profile(%s::bigint)", (uid,)).fetchone() == \
            ("+1 202 555 0199", f"new{uid}@example.com")


def test_keys_rotate_reencrypts_every_user_and_drops_the_old_key(db):
    with db.connect() as conn:
        uid = _user(conn, first="Grace", phone="+1 555 0101")
        before = conn.execute("SELECT pii, pii_key_version FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()
    res = run("keys", "rotate", "--dsn", db.dsn, "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["key_version"] == before[1] + 1 and out["users_reencrypted"] >= 1 and out["nodes"] == (3 if db.citus else 1)
    with db.connect() as conn:
        after = conn.execute("SELECT pii, pii_key_version FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()
        assert after[1] == out["key_version"] and after[0] != before[0]
        assert conn.execute("SELECT count(*) FROM finshard.users WHERE pii IS NOT NULL AND pii_key_version <> %s",
                            (out["key_version"],)).fetchone()[0] == 0
        assert conn.execute("SELECT first_name, phone FROM finshard.user_profile(%s::bigint)", (uid,)).fetchone() == ("Grace", "+1 555 0101")
        # Only the new key is left: the old ciphertext no longer decrypts.
        with pytest.raises(psycopg.Error) as err:
            conn.execute("SELECT finshard._decrypt_pii(%s, %s)", before)
        assert err.value.sqlstate == "FS090"


@pytest.mark.citus
def test_keys_rotate_and_upgrade_refuse_a_workers_dsn(citus):
    # On a worker, "every node" is the workers: the coordinator would keep the old key.
    worker = next(n for n in citus.cluster.nodes if n.role == "worker")
    before = {n.name: open(f"{n.datadir}/finshard_pii.key").read() for n in citus.cluster.nodes}
    for args in (("keys", "rotate"), ("upgrade", "--dry-run")):
        assert_one_line_error(run(*args, "--dsn", worker.dsn()), "is a Citus worker", "through the coordinator")
    assert {n.name: open(f"{n.datadir}/finshard_pii.key").read() for n in citus.cluster.nodes} == before


def test_ddl_and_role_changes_and_connections_are_in_every_nodes_log_without_passwords(db):
    """pgAudit logs every DDL statement and role change, superusers' included; the server logs who
    connected. A login's password is not in the log."""
    from finshard.local.postgres import pgaudit_installed

    if not pgaudit_installed():
        pytest.skip("pgAudit is not installed (apt-get install postgresql-15-pgaudit; scripts/setup.sh does)")
    name, password = f"aud_{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    assert run("roles", "create-login", "--dsn", db.dsn, name, "--role", "readonly", "--password", password).returncode == 0
    with db.connect() as conn:
        assert conn.execute("SHOW pgaudit.log").fetchone()[0] == "ddl, role"
        assert conn.execute("SHOW log_connections").fetchone()[0] == "on"
        conn.execute(f"CREATE TABLE public.audited_{name} (a int)")
        conn.execute(f"DROP TABLE public.audited_{name}")
        conn.execute(f"DROP OWNED BY {name}")
        conn.execute(f"DROP ROLE {name}")
    for node in db.cluster.nodes:
        log = (Path(node.datadir) / "server.log").read_text(errors="replace")
        assert password not in log
        if node.role in ("coordinator", "single"):
            assert f'CREATE ROLE ""{name}"" LOGIN PASSWORD <REDACTED>' in log
            assert f"AUDIT: SESSION" in log and f"DROP TABLE public.audited_{name}" in log
            assert "connection authorized: user=postgres database=finshard" in log


def test_a_notification_event_carries_ids_only_and_a_forged_one_is_recognised(db):
    with db.connect() as conn:
        acc = new_account(conn, "USD")
    with Router.connect(db.dsn) as r:
        node_dsn = r.node_dsn(r.shard_for(acc).node)
    with psycopg.connect(node_dsn, autocommit=True) as listener:
        listener.execute("LISTEN finshard_events")
        with db.connect() as conn:
            conn.execute("SELECT finshard.deposit(%s::bigint, 12.34)", (acc,))
        with psycopg.connect(node_dsn, autocommit=True) as stranger:
            forged = {"kind": "credited", "user_id": 1, "account_id": acc, "notification_id": 999999999}
            stranger.execute("SELECT pg_notify('finshard_events', %s)", (json.dumps(forged),))
        events = [json.loads(n.payload) for n in listener.notifies(timeout=5, stop_after=2)]
    assert len(events) == 2 and all(set(e) == {"kind", "user_id", "account_id", "notification_id"} for e in events)
    assert all("12.34" not in json.dumps(e) for e in events)

    def genuine(event: dict) -> bool:
        with db.connect() as conn:
            try:
                row = conn.execute("SELECT kind, user_id FROM finshard.notification(%s::bigint, %s::bigint)",
                                   (event["account_id"], event["notification_id"])).fetchone()
            except psycopg.Error as exc:
                assert exc.sqlstate == "FS064"
                return False
        return row == (event["kind"], event["user_id"])

    assert [genuine(e) for e in events] == [True, False]


def test_a_rate_far_from_the_one_in_force_needs_confirmation(db):
    with db.connect() as conn:
        conn.execute("SELECT finshard.set_fx_rate('EUR', 'UZS', 13000, p_valid_from => now() - interval '1 second', p_confirm => true)")
        before = conn.execute("SELECT count(*) FROM finshard.fx_rates").fetchone()[0]
        for rate in ("99999999999", "11000"):
            with pytest.raises(psycopg.Error) as err:
                conn.execute("SELECT finshard.set_fx_rate('EUR', 'UZS', %s::numeric)", (rate,))
            assert err.value.sqlstate == "FS087"
        assert conn.execute("SELECT count(*) FROM finshard.fx_rates").fetchone()[0] == before
        conn.execute("SELECT finshard.set_fx_rate('EUR', 'UZS', 13500)")  # within 10%
        conn.execute("SELECT finshard.set_fx_rate('EUR', 'UZS', 13000, p_confirm => true)")


def test_a_conversion_beyond_the_house_limit_is_refused_and_changes_nothing(db):
    with db.connect() as conn:
        conn.execute("SELECT finshard.set_fx_rate('UZS', 'EUR', 0.0001, p_valid_from => now() - interval '1 second', p_confirm => true)")
        house = conn.execute("SELECT house_account_id FROM finshard.currencies WHERE code = 'EUR'").fetchone()[0]
        balance = conn.execute("SELECT balance FROM finshard.accounts WHERE account_id = %s", (house,)).fetchone()[0]
        # Earlier tests may leave the house holding EUR: the limit is set so that the house can pay
        # out `headroom` EUR from here, whatever it holds.
        limit = max(Decimal(0), 100 - balance)
        headroom = (balance + limit).quantize(Decimal("1"))
        src = new_account(conn, "UZS", str(headroom * 20000))
        dst = new_account(conn, "EUR")
        conn.execute("SELECT finshard.set_house_limit('EUR', %s::numeric)", (limit,))
        try:
            conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, %s::numeric)", (src, dst, headroom / 2 * 10000))  # within
            before = snapshot(conn)
            with pytest.raises(psycopg.Error) as err:
                conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, %s::numeric)", (src, dst, headroom * 10000))  # beyond
            assert err.value.sqlstate == "FS088"
            assert snapshot(conn) == before
        finally:
            conn.execute("UPDATE finshard.currencies SET house_limit = NULL WHERE code = 'EUR'")


def test_the_router_refuses_a_non_integer_id(db):
    with db.connect() as conn:
        acc = new_account(conn, "USD")
    with Router.connect(db.dsn) as r:
        for bad in (Decimal("26.6"), 26.0, "27", True):
            with pytest.raises((errors.InvalidArgument, TypeError)):
                r.deposit(account_id=bad, amount=Decimal("1"))
            with pytest.raises(errors.InvalidArgument):
                r.shard_for(bad)  # type: ignore[arg-type]
        assert r.balance(account_id=acc) == 0


def test_the_router_carries_the_session(db):
    with db.connect() as conn:
        uid = new_user(conn)
        name = conn.execute("SELECT username FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()[0]
        mine = conn.execute("SELECT finshard.open_account(%s::bigint)", (uid,)).fetchone()[0]
        other = new_account(conn, "USD")
        app = f"rapp{uuid.uuid4().hex[:8]}"
        create_test_login(conn, db, app, "finshard_app")
    try:
        dsn = db.dsn.replace("postgres@", f"{app}@")
        with Router.connect(dsn) as r:
            token = r.login(login=name, password="correct horse")["token"]
            me = r.session(token)
            assert me.deposit(account_id=mine, amount=Decimal("10"))["balance"] == 10
            me.transfer(from_account_id=mine, to_account_id=other, amount=Decimal("3"))
            with pytest.raises(errors.NotOwner):
                me.withdraw(account_id=other, amount=Decimal("1"))
            with pytest.raises(errors.SessionRequired):
                r.balance(account_id=mine)
            me.logout()
            with pytest.raises(errors.SessionRevoked):
                me.balance(account_id=mine)
    finally:
        with db.connect() as conn:
            conn.execute(f"DROP ROLE {app}")


def test_a_caller_cannot_redirect_the_failed_login_record(plain):
    with plain.connect() as conn:
        uid = new_user(conn)
        name = conn.execute("SELECT username FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()[0]
        conn.execute("SET finshard.loopback_conninfo = 'host=203.0.113.1 connect_timeout=1'")
        with pytest.raises(psycopg.Error) as err:
            conn.execute("SELECT finshard.authenticate(%s, 'wrong password')", (name,))
        assert err.value.sqlstate == "FS024"
        assert conn.execute("SELECT failed_logins FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()[0] == 1


def test_roles_create_login_makes_a_scram_login_in_the_group(db):
    name = f"svc{uuid.uuid4().hex[:8]}"
    res = run("roles", "create-login", name, "--role", "market", "--dsn", db.dsn, "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["group"] == "finshard_market"
    with db.connect() as conn:
        login, scram = conn.execute("SELECT rolcanlogin, rolpassword LIKE 'SCRAM-SHA-256$%%' FROM pg_authid WHERE rolname = %s",
                                    (name,)).fetchone()
        assert login and scram
        assert conn.execute("SELECT pg_has_role(%s, 'finshard_market', 'MEMBER')", (name,)).fetchone()[0]
        conn.execute(f"DROP ROLE {name}")
    assert_one_line_error(run("roles", "create-login", "pg_evil", "--role", "admin", "--dsn", db.dsn), "login name")
    assert_one_line_error(run("roles", "create-login", name, "--role", "admin", "--password", "short", "--dsn", db.dsn),
                          "at least 12")


# -- the audit: every tampering of issue 15 item 6, found by `finshard audit verify` ----------------

# Tampering touches only this month's partitions: older months may be columnar on Citus (partitions
# compress), where UPDATE and DELETE are refused.
RECENT = "AND created_at > now() - interval '1 day'"


def _verify(db, *extra: str) -> tuple[int, list[dict]]:
    res = run("audit", "verify", "--dsn", db.dsn, "--json", *extra)
    assert "Traceback" not in res.stderr
    return res.returncode, json.loads(res.stdout)["problems"]


@pytest.fixture
def chain(db):
    """An account with a five-entry audit chain; its rows are put back after the test."""
    with db.connect() as conn:
        acc = new_account(conn, "USD", "100.00")
        for amount in ("1", "2", "3"):
            conn.execute("SELECT finshard.withdraw(%s::bigint, %s::numeric)", (acc, amount))
        # Kept server-side, so that the rows come back byte for byte (jsonb numbers included).
        conn.execute(f"CREATE TABLE public.audit_saved_{acc} AS SELECT * FROM finshard.audit_log WHERE account_id = {acc}")
        head = conn.execute("SELECT audit_seq, audit_hash, audit_prev_hash FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()
    yield acc
    with db.connect() as conn:
        conn.execute(f"DELETE FROM finshard.audit_log WHERE account_id = %s {RECENT}", (acc,))
        conn.execute(f"INSERT INTO finshard.audit_log SELECT * FROM public.audit_saved_{acc}")
        conn.execute(f"DROP TABLE public.audit_saved_{acc}")
        conn.execute("UPDATE finshard.accounts SET audit_seq = %s, audit_hash = %s, audit_prev_hash = %s WHERE account_id = %s",
                     (*head, acc))
    assert _verify(db, "--account", str(acc)) == (0, [])


def _move_head_back(conn: psycopg.Connection, account: int, seq: int) -> None:
    # Read first, then set: an UPDATE joined to audit_log would scan (and mark) its columnar months.
    h, prev = conn.execute("SELECT hash, prev_hash FROM finshard.audit_log WHERE account_id = %s AND audit_seq = %s",
                           (account, seq)).fetchone()
    conn.execute("UPDATE finshard.accounts SET audit_seq = %s, audit_hash = %s, audit_prev_hash = %s WHERE account_id = %s",
                 (seq, h, prev, account))


def _found(problems: list[dict], acc: int, *words: str) -> bool:
    return any(p["account_id"] == acc and all(w in p["problem"] for w in words) for p in problems)


def test_audit_verify_finds_an_altered_entry(db, chain):
    with db.connect() as conn:
        conn.execute("UPDATE finshard.audit_log SET details = details || '{\"amount\": 1000}' WHERE account_id = %s AND audit_seq = 3 " + RECENT,
                     (chain,))
    code, problems = _verify(db, "--account", str(chain))
    assert code != 0 and _found(problems, chain, "altered")


def test_audit_verify_finds_an_altered_actor(db, chain):
    with db.connect() as conn:
        conn.execute(f"UPDATE finshard.audit_log SET actor = 'someone_else' WHERE account_id = %s AND audit_seq = 2 {RECENT}", (chain,))
    code, problems = _verify(db, "--account", str(chain))
    assert code != 0 and _found(problems, chain, "altered")


def test_audit_verify_finds_a_deleted_middle_entry(db, chain):
    with db.connect() as conn:
        conn.execute(f"DELETE FROM finshard.audit_log WHERE account_id = %s AND audit_seq = 3 {RECENT}", (chain,))
    code, problems = _verify(db, "--account", str(chain))
    assert code != 0 and _found(problems, chain, "removed")


def test_audit_verify_finds_a_chain_rehashed_with_sha256_and_its_head_reset(db, chain):
    with db.connect() as conn:
        rows = conn.execute("SELECT audit_seq, action, details, created_at, actor, on_behalf_of FROM finshard.audit_log "
                            "WHERE account_id = %s ORDER BY audit_seq", (chain,)).fetchall()
        prev = ""
        for seq, action, details, created, actor, behalf in rows:
            if seq == 2:
                details = {**details, "amount": 0}
            h = conn.execute("SELECT encode(sha256(convert_to(concat_ws('|', %s::text, %s::bigint, %s::bigint, %s::text, %s::jsonb::text, "
                             "(extract(epoch FROM %s::timestamptz) * 1000000)::bigint, %s::text, coalesce(%s::text, '-')), 'UTF8')), 'hex')",
                             (prev, chain, seq, action, json.dumps(details), created, actor, behalf)).fetchone()[0]
            conn.execute(f"UPDATE finshard.audit_log SET details = %s, prev_hash = %s, hash = %s "
                         f"WHERE account_id = %s AND audit_seq = %s {RECENT}",
                         (json.dumps(details), prev, h, chain, seq))
            prev = h
        conn.execute("UPDATE finshard.accounts SET audit_hash = %s WHERE account_id = %s", (prev, chain))
    code, problems = _verify(db, "--account", str(chain))
    assert code != 0 and _found(problems, chain, "without the audit key")


def test_audit_verify_with_a_checkpoint_finds_the_newest_entry_cut_and_the_head_moved_back(db, chain, scratch):
    cp = scratch("finshard-cp-") / "audit.json"
    res = run("audit", "checkpoint", "--dsn", db.dsn, "--out", str(cp))
    assert res.returncode == 0, res.stderr
    assert _verify(db, "--account", str(chain), "--checkpoint", str(cp)) == (0, [])
    garbled = cp.with_name("garbled.json")
    garbled.write_text("not json")
    assert_one_line_error(run("audit", "verify", "--dsn", db.dsn, "--checkpoint", str(garbled)), "is not a finshard audit checkpoint (not JSON")
    with db.connect() as conn:
        newest = conn.execute("SELECT audit_seq FROM finshard.accounts WHERE account_id = %s", (chain,)).fetchone()[0]
        conn.execute(f"DELETE FROM finshard.audit_log WHERE account_id = %s AND audit_seq = %s {RECENT}", (chain, newest))
        _move_head_back(conn, chain, newest - 1)
    # The chain is a consistent prefix, but the cut entry vouched for a withdrawal the ledger holds.
    code, problems = _verify(db, "--account", str(chain))
    assert code != 0 and _found(problems, chain, "no audit entry vouching for it")
    code, problems = _verify(db, "--account", str(chain), "--checkpoint", str(cp))
    assert code != 0 and _found(problems, chain, "shorter than at the checkpoint")


def test_audit_verify_with_a_checkpoint_finds_a_system_entry_cut_and_the_head_moved_back(db, scratch):
    cp = scratch("finshard-cp-") / "audit.json"
    with db.connect() as conn:
        new_user(conn)  # one more system-chain entry
    assert run("audit", "checkpoint", "--dsn", db.dsn, "--out", str(cp)).returncode == 0
    with db.connect() as conn:
        seq, h, prev = conn.execute("SELECT audit_seq, audit_hash, audit_prev_hash FROM finshard.accounts WHERE account_id = 0").fetchone()
        conn.execute(f"CREATE TABLE public.audit_saved_system AS SELECT * FROM finshard.audit_log WHERE account_id = 0 AND audit_seq = {seq}")
        conn.execute(f"DELETE FROM finshard.audit_log WHERE account_id = 0 AND audit_seq = %s {RECENT}", (seq,))
        _move_head_back(conn, 0, seq - 1)
    try:
        assert _verify(db, "--account", "0") == (0, [])  # a consistent prefix: only the checkpoint knows
        code, problems = _verify(db, "--account", "0", "--checkpoint", str(cp))
        assert code != 0 and _found(problems, 0, "shorter than at the checkpoint")
    finally:
        with db.connect() as conn:
            conn.execute("INSERT INTO finshard.audit_log SELECT * FROM public.audit_saved_system")
            conn.execute("DROP TABLE public.audit_saved_system")
            conn.execute("UPDATE finshard.accounts SET audit_seq = %s, audit_hash = %s, audit_prev_hash = %s WHERE account_id = 0",
                         (seq, h, prev))


def test_a_checkpoint_with_a_bad_signature_is_refused(db, scratch):
    cp = scratch("finshard-cp-") / "audit.json"
    res = run("audit", "checkpoint", "--dsn", db.dsn)  # to standard output, for a redirect
    assert res.returncode == 0, res.stderr
    cp.write_text(res.stdout)
    assert _verify(db, "--account", "0", "--checkpoint", str(cp)) == (0, [])
    document = json.loads(cp.read_text())
    document["heads"] = document["heads"][:-1]
    cp.write_text(json.dumps(document))
    assert_one_line_error(run("audit", "verify", "--dsn", db.dsn, "--checkpoint", str(cp)), "bad signature")


def test_audit_verify_finds_money_moved_by_writing_the_ledger_directly(db):
    """A table writer without the key can make the ledger agree with itself (ledger_verify passes),
    not with the keyed chain: the entries no audit entry vouches for are named."""
    with db.connect() as conn:
        a, b = new_account(conn, "USD", "100.00"), new_account(conn, "USD")
        before = conn.execute("SELECT account_id, balance, entry_seq FROM finshard.accounts WHERE account_id IN (%s, %s)",
                              (a, b)).fetchall()
        fake = 10**15 + a
        conn.execute("INSERT INTO finshard.transfers (transfer_id, from_account_id, to_account_id, amount, currency, to_amount, "
                     "to_currency, status, resolved_at) VALUES (%s, %s, %s, 60, 'USD', 60, 'USD', 'success', now())", (fake, a, b))
        for acc, amount, kind, other in ((a, -60, "transfer_out", b), (b, 60, "transfer_in", a)):
            conn.execute("UPDATE finshard.accounts SET balance = balance + %s, entry_seq = entry_seq + 1, "
                         "last_entry_at = now() WHERE account_id = %s", (amount, acc))
            conn.execute("INSERT INTO finshard.transactions (account_id, entry_seq, transaction_type, amount, balance_after, currency, "
                         "transfer_id, counterparty_account_id, created_at) SELECT account_id, entry_seq, %s, %s, balance, 'USD', %s, %s, "
                         "last_entry_at FROM finshard.accounts WHERE account_id = %s", (kind, amount, fake, other, acc))
        try:
            # Consistent as a ledger: ledger_verify has nothing to say about these accounts.
            assert conn.execute("SELECT count(*) FROM finshard.ledger_verify() WHERE account_id IN (%s, %s)", (a, b)).fetchone()[0] == 0
            code, problems = _verify(db, "--account", str(a))
            assert code != 0 and _found(problems, a, "no audit entry vouching for it")
        finally:
            conn.execute(f"DELETE FROM finshard.transactions WHERE transfer_id = %s {RECENT}", (fake,))
            conn.execute("DELETE FROM finshard.transfers WHERE transfer_id = %s AND from_account_id = %s", (fake, a))
            for acc, balance, seq in before:
                conn.execute("UPDATE finshard.accounts SET balance = %s, entry_seq = %s WHERE account_id = %s", (balance, seq, acc))
    assert _verify(db, "--account", str(a)) == (0, [])


def test_every_trade_is_vouched_for_by_the_audit_chain(db):
    from tests.test_trading import instrument, order

    with db.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD", "1000.00")
        order(conn, acc, iid, "market", "buy", 10)
        details = conn.execute("SELECT details FROM finshard.audit_log WHERE account_id = %s AND action = 'trade'", (acc,)).fetchone()[0]
        assert {"trade_id", "amount", "fee"} <= set(details)
    assert _verify(db, "--account", str(acc)) == (0, [])


def test_review_findings_each_get_their_code_and_change_nothing(db):
    with db.connect() as conn:
        uid = new_user(conn)
        name = conn.execute("SELECT username FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()[0]
        acc = conn.execute("SELECT finshard.open_account(%s::bigint)", (uid,)).fetchone()[0]
        other = new_account(conn, "USD")
        conn.execute("SELECT finshard.deposit(%s::bigint, 50)", (acc,))
        iid = conn.execute("SELECT finshard.create_instrument(%s, 'Review Corp')", ("R" + uuid.uuid4().hex[:7].upper(),)).fetchone()[0]
        conn.execute("SELECT finshard.create_user(%s, %s, 'correct horse', 'admin')", (f"adm{uid}", f"adm{uid}@example.com"))
        app = f"rv{uuid.uuid4().hex[:8]}"
        create_test_login(conn, db, app, "finshard_app")
        try:
            conn.execute(f"SET ROLE {app}")
            root = conn.execute("SELECT token FROM finshard.login(%s, 'correct horse')", (f"adm{uid}",)).fetchone()[0]
            cases = [
                # an interval comparison counts a month as 30 days: these are decades, not a day
                ("SELECT * FROM finshard.login(%s, 'correct horse', '10000 years -3599999 days')", (name,), "FS005"),
                ("SELECT finshard.create_pending_transfer(%s::bigint, %s::bigint, 1, '1000 years -359999 days', p_session => %s)",
                 None, "FS005"),
                # an admin user may not take over another user's password
                ("SELECT finshard.update_user(%s::bigint, p_password => 'hijacked-pw', p_session => %s)", (uid, root), "FS080"),
                ("SELECT finshard.create_price_alert(%s::bigint, %s::bigint, 'above', 0.000000001, %s)", None, "FS062"),
                ("SELECT * FROM finshard.account_statement(%s::bigint, '4713-01-01 BC', %s)", None, "FS070"),
            ]
            own = conn.execute("SELECT token FROM finshard.login(%s, 'correct horse')", (name,)).fetchone()[0]
            params = {1: (acc, other, own), 3: (acc, iid, own), 4: (acc, own)}
            conn.execute("RESET ROLE")
            before = snapshot(conn)
            conn.execute(f"SET ROLE {app}")
            for i, (sql, p, code) in enumerate(cases):
                with pytest.raises(psycopg.Error) as err:
                    conn.execute(sql, p if p is not None else params[i])
                assert err.value.sqlstate == code, (sql, err.value)
            conn.execute("RESET ROLE")
            assert snapshot(conn) == before
        finally:
            conn.execute("RESET ROLE")
            conn.execute(f"DROP OWNED BY {app}")
            conn.execute(f"DROP ROLE {app}")


def test_a_citus_internal_application_name_on_plain_postgresql_is_harmless(plain):
    with plain.connect(application_name="citus_internal_gpid=1") as conn:
        acc = new_account(conn, "USD")
        assert conn.execute("SELECT balance FROM finshard.deposit(%s::bigint, 1)", (acc,)).fetchone()[0] == 1


def test_the_router_turns_malformed_values_into_invalid_argument(db):
    with db.connect() as conn:
        a, b = new_account(conn, "USD", "10.00"), new_account(conn, "USD")
    with Router.connect(db.dsn) as r:
        with pytest.raises(errors.InvalidArgument):
            r.balance(account_id=2**63)
        with pytest.raises(errors.InvalidArgument):
            r.shard_for(2**64)
        with pytest.raises(errors.InvalidArgument) as err:
            r.transfer(from_account_id=a, to_account_id=b, amount="abc")
        assert err.value.sqlstate == "FS005"
        with pytest.raises(errors.InvalidArgument):
            r.transfer(from_account_id=a, to_account_id=b, amount=Decimal("1"), description="\ud800")
        assert r.balance(account_id=a) == Decimal("10.00")


def test_audit_verify_finds_a_customer_chain_removed_whole(db, chain):
    with db.connect() as conn:
        conn.execute(f"DELETE FROM finshard.audit_log WHERE account_id = %s {RECENT}", (chain,))
        conn.execute("UPDATE finshard.accounts SET audit_seq = 0, audit_hash = '', audit_prev_hash = '' WHERE account_id = %s", (chain,))
    code, problems = _verify(db, "--account", str(chain))
    assert code != 0 and _found(problems, chain, "without an audit chain")


@pytest.mark.parametrize("tamper", ["amount", "balance_after", "account balance", "deleted row"])
def test_audit_verify_names_ledger_tampering(db, tamper):
    with db.connect() as conn:
        acc = new_account(conn, "USD", "100.00")
        conn.execute("SELECT finshard.withdraw(%s::bigint, 30)", (acc,))
        row = conn.execute(f"SELECT entry_seq, amount, balance_after, transaction_id, created_at FROM finshard.transactions WHERE account_id = %s "
                           f"AND transaction_type = 'withdraw' {RECENT}", (acc,)).fetchone()
        sql = {"amount": "UPDATE finshard.transactions SET amount = amount - 1 WHERE account_id = %s AND entry_seq = %s",
               "balance_after": "UPDATE finshard.transactions SET balance_after = balance_after + 1 WHERE account_id = %s AND entry_seq = %s",
               "account balance": "UPDATE finshard.accounts SET balance = balance + 1 WHERE account_id = %s AND %s > 0",
               "deleted row": "DELETE FROM finshard.transactions WHERE account_id = %s AND entry_seq = %s"}[tamper]
        if "transactions" in sql:
            sql += " " + RECENT
        conn.execute(sql, (acc, row[0]))
        try:
            code, problems = _verify(db, "--account", str(acc))
            assert code != 0 and any(p["account_id"] == acc and p["problem"].startswith("ledger: ") for p in problems), problems
        finally:
            conn.execute(f"DELETE FROM finshard.transactions WHERE account_id = %s AND entry_seq = %s {RECENT}", (acc, row[0]))
            conn.execute("INSERT INTO finshard.transactions (account_id, entry_seq, transaction_type, amount, balance_after, "
                         "transaction_id, currency, created_at) VALUES (%s, %s, 'withdraw', %s, %s, %s, 'USD', %s)", (acc, *row))
            conn.execute("UPDATE finshard.accounts SET balance = %s WHERE account_id = %s", (row[2], acc))
        assert _verify(db, "--account", str(acc)) == (0, [])


def test_lifetimes_beyond_what_a_timestamp_holds_are_fs005_not_a_raw_22008(db):
    with db.connect() as conn:
        uid = new_user(conn)
        name = conn.execute("SELECT username FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()[0]
        a, b = new_account(conn, "USD", "10.00"), new_account(conn, "USD")
        for ttl in ("300000 years", "-300000 years", "1000000 years -359999999 days"):
            assert_rejected(conn, "SELECT * FROM finshard.login(%s, 'correct horse', %s::interval)", (name, ttl), "FS005")
            assert_rejected(conn, "SELECT finshard.create_pending_transfer(%s::bigint, %s::bigint, 1, %s::interval)",
                            (a, b, ttl), "FS005")


def test_a_deactivated_users_resting_order_is_cancelled_not_filled(db):
    from tests.test_trading import instrument, order, quote_

    with db.connect() as conn:
        iid, acc = instrument(conn, quote=("10.00", "100", "10.05", "50")), new_account(conn, "USD", "1000.00")
        oid = order(conn, acc, iid, "limit", "buy", 10, price="9.00")      # rests below the ask
        owner = conn.execute("SELECT user_id FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()[0]
        conn.execute("SELECT finshard.deactivate_user(%s::bigint)", (owner,))
        quote_(conn, iid, "8.90", "100", "8.95", "100")                     # would cross
        status, filled = conn.execute("SELECT status, filled_quantity FROM finshard.orders WHERE account_id = %s AND order_id = %s",
                                      (acc, oid)).fetchone()
        assert (status, filled) == ("cancelled", 0)
        assert conn.execute("SELECT balance, reserved FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone() == (1000, 0)


def test_a_market_feed_cannot_name_the_end_user_of_its_fills(db):
    from tests.test_trading import instrument, order

    with db.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD", "1000.00")
        order(conn, acc, iid, "limit", "buy", 10, price="9.00")
        feed = f"feed{uuid.uuid4().hex[:8]}"
        create_test_login(conn, db, feed, "finshard_market")
    try:
        with psycopg.connect(db.dsn.replace("postgres@", f"{feed}@"), autocommit=True) as market:
            market.execute("SET finshard.on_behalf_of = '42'")
            market.execute("SELECT finshard.update_quote(%s::bigint, 8.90, 100, 8.95, 100)", (iid,))
        # And with the setting sent on to every node (on Citus each node fills its own orders).
        with db.connect() as conn:
            order(conn, acc, iid, "limit", "buy", 5, price="8.80")
        with psycopg.connect(db.dsn.replace("postgres@", f"{feed}@"), autocommit=True) as market, market.transaction():
            market.execute("SET LOCAL citus.propagate_set_commands = 'local'")
            market.execute("SET LOCAL finshard.on_behalf_of = '42'")
            market.execute("SELECT finshard.update_quote(%s::bigint, 8.70, 100, 8.75, 100)", (iid,))
        with db.connect() as conn:
            rows = conn.execute("SELECT on_behalf_of, actor FROM finshard.audit_log WHERE account_id = %s AND action = 'trade' ORDER BY audit_seq",
                                (acc,)).fetchall()
            assert rows == [(None, feed), (None, feed)]
    finally:
        with db.connect() as conn:
            conn.execute(f"DROP ROLE {feed}")


def test_a_missing_key_file_is_fs090_naming_the_file(plain):
    # Read with missing_ok, not caught in an EXCEPTION block (a subtransaction per read; on Citus
    # a savepoint on every remote connection of the transaction).
    with plain.connect() as conn:
        with pytest.raises(psycopg.Error) as err:
            conn.execute("SELECT finshard._key('nosuch')")
    assert err.value.sqlstate == "FS090"
    assert "key nosuch is unavailable on this node (no file " in err.value.diag.message_primary
    assert "finshard_nosuch.key" in err.value.diag.message_primary


def test_a_rejected_call_leaves_no_session_token_in_any_server_log(db):
    """On Citus a delegated call reaches its worker as SQL text with the token written in; a
    failing statement's text must not be logged there (nor on a single node)."""
    with db.connect() as conn:
        user = new_user(conn)
        name = conn.execute("SELECT username FROM finshard.users WHERE user_id = %s", (user,)).fetchone()[0]
        acc = conn.execute("SELECT finshard.open_account(%s::bigint, 'USD')", (user,)).fetchone()[0]
        token = conn.execute("SELECT token FROM finshard.login(%s, 'correct horse')", (name,)).fetchone()[0]
        for _ in range(2):
            with pytest.raises(psycopg.Error) as err:
                conn.execute("SELECT * FROM finshard.withdraw(%s::bigint, %s::numeric, p_session => %s::text)",
                             (acc, Decimal("5.00"), token))
            assert err.value.sqlstate == "FS013"
        message = err.value.diag.message_primary or ""
        with pytest.raises(psycopg.Error):
            conn.execute(f"SELECT * FROM finshard.withdraw({acc}::bigint, 5.00, p_session => '{token}')")
    logs = db.logs(lines=2000)
    assert message and message in logs  # the error itself is logged, its statement is not
    assert token not in logs
