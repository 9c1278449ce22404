"""Issue 15: roles by duty, sessions the database checks, and the documented allow/deny of every
public function (docs/roles.md is the one table; these tests hold the catalog to it)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.helpers import create_test_login, new_user, snapshot

ROOT = Path(__file__).resolve().parent.parent
GROUPS = ("finshard_app", "finshard_market", "finshard_admin", "finshard_readonly")
SENDERS = {"withdraw", "transfer", "create_pending_transfer", "post_pending_transfer", "place_order"}


def documented() -> dict[str, tuple[set[str], str]]:
    """function -> (roles granted, session rule), from docs/roles.md's Grants table."""
    rows: dict[str, tuple[set[str], str]] = {}
    text = (ROOT / "docs" / "roles.md").read_text().split("## Grants", 1)[1]
    for line in text.splitlines():
        m = re.match(r"^\| ([a-z_]+) \|(.*)\| ([a-z_]+) \|$", line)
        if not m or m.group(1) == "function":
            continue
        cells = [c.strip() for c in m.group(2).split("|")]
        rows[m.group(1)] = ({g for g, c in zip(GROUPS, cells) if c == "x"}, m.group(3))
    return rows


def granted(conn: psycopg.Connection) -> dict[str, set[str]]:
    """function -> finshard roles with EXECUTE, from the catalog (every public finshard function)."""
    out: dict[str, set[str]] = {}
    for name, roles in conn.execute("""
            SELECT p.proname, array_remove(array_agg(r.rolname ORDER BY r.rolname), NULL)
              FROM pg_proc p
              LEFT JOIN LATERAL aclexplode(p.proacl) a ON a.privilege_type = 'EXECUTE'
              LEFT JOIN pg_roles r ON r.oid = a.grantee AND r.rolname LIKE 'finshard\\_%%'
             WHERE p.pronamespace = 'finshard'::regnamespace AND p.proname NOT LIKE '\\_%%' AND p.prokind = 'f'
             GROUP BY p.proname""").fetchall():
        out[name] = set(roles)
    return out


def test_install_creates_the_four_roles_nologin(plain):
    with plain.connect() as conn:
        rows = dict(conn.execute("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY (%s)", (list(GROUPS),)).fetchall())
    assert rows == {g: False for g in GROUPS}


def test_the_roles_table_is_the_catalogs_grants(db):
    """A function granted to a role the table does not name (or the reverse) is a defect, named here."""
    with db.connect() as conn:
        catalog = granted(conn)
    doc = documented()
    granted_anywhere = {f for f, roles in catalog.items() if roles}
    assert granted_anywhere - set(doc) == set(), "granted but not in docs/roles.md"
    assert set(doc) - set(catalog) == set(), "in docs/roles.md but not a function"
    wrong = {f: {"catalog": sorted(catalog[f]), "docs/roles.md": sorted(doc[f][0])}
             for f in doc if catalog[f] != doc[f][0]}
    assert wrong == {}


@pytest.fixture(scope="module", params=["plain", pytest.param("citus", marks=pytest.mark.citus)])
def world(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A login per group, two traders and an admin user with accounts and sessions, and an expired,
    a revoked and a forged session."""
    db = request.getfixturevalue(request.param)
    tag = uuid.uuid4().hex[:8]
    w: dict[str, Any] = {"db": db, "logins": {g: f"t{tag}_{g.split('_')[1]}" for g in GROUPS}}
    with db.connect() as conn:
        for group, login in w["logins"].items():
            create_test_login(conn, db, login, group)
        for who in ("alice", "bob", "root"):
            name = f"{who}{tag}"
            role = "admin" if who == "root" else "trader"
            uid = conn.execute("SELECT finshard.create_user(%s, %s, 'correct horse', %s)",
                               (name, f"{name}@example.com", role)).fetchone()[0]
            acc = conn.execute("SELECT finshard.open_account(%s::bigint)", (uid,)).fetchone()[0]
            conn.execute("SELECT finshard.deposit(%s::bigint, 100)", (acc,))
            w[who] = {"user": uid, "account": acc, "login": name}
        conn.execute(f"SET ROLE {w['logins']['finshard_app']}")
        for who in ("alice", "bob", "root"):
            w[who]["token"] = conn.execute("SELECT token FROM finshard.login(%s, 'correct horse')",
                                           (w[who]["login"],)).fetchone()[0]
        revoked = conn.execute("SELECT token FROM finshard.login(%s, 'correct horse')", (w["alice"]["login"],)).fetchone()[0]
        conn.execute("SELECT finshard.logout(%s)", (revoked,))
        conn.execute("RESET ROLE")
        expired = f"fss_expired_{tag}"
        conn.execute("INSERT INTO finshard.sessions (token_hash, user_id, created_at, expires_at) "
                     "VALUES (sha256(convert_to(%s, 'UTF8')), %s, now() - interval '2 hours', now() - interval '1 hour')",
                     (expired, w["alice"]["user"]))
    w["sessions"] = {"expired": expired, "revoked": revoked, "forged": "fss_" + "0" * 64}
    yield w
    with db.connect() as conn:
        for login in w["logins"].values():
            conn.execute(f"DROP ROLE IF EXISTS {login}")


def _call_sql(conn: psycopg.Connection, name: str, first: Any, session: str | None) -> tuple[str, list[Any]]:
    """SELECT finshard.name(...) with its first argument, p_session, and NULL for the rest."""
    (args,) = conn.execute("""
        SELECT array_agg(format('%%I => NULL::%%s', a.name, format_type(a.type, NULL)) ORDER BY a.n)
          FROM pg_proc p, unnest(p.proargnames[1:p.pronargs], p.proargtypes::oid[]) WITH ORDINALITY a (name, type, n)
         WHERE p.pronamespace = 'finshard'::regnamespace AND p.proname = %s""", (name,)).fetchone()
    params: list[Any] = []
    parts = []
    for i, part in enumerate(args or []):
        arg = part.split(" => ")[0]
        if i == 0 and first is not None:
            parts.append(f"{arg} => %s::bigint")
            params.append(first)
        elif arg == "p_session":
            parts.append("p_session => %s::text")
            params.append(session)
        else:
            parts.append(part)
    return f"SELECT * FROM finshard.{name}({', '.join(parts)})", params


def _outcome(conn: psycopg.Connection, login: str, sql: str, params: list[Any]) -> str:
    """'ok', or the SQLSTATE; always rolled back, so the matrix changes nothing."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(f"SET LOCAL ROLE {login}")
            conn.execute(sql, params).fetchall()
        return "ok"
    except psycopg.Error as exc:
        return exc.sqlstate or "?"


def test_each_role_may_call_exactly_what_the_table_grants(world):
    """As each group's login: a function not granted is refused by PostgreSQL (42501), a granted one
    runs its body (any other outcome; NULL arguments are refused there)."""
    bad = []
    with world["db"].connect() as conn:
        for name, (roles, _rule) in documented().items():
            sql, params = _call_sql(conn, name, None, None)
            for group in GROUPS:
                got = _outcome(conn, world["logins"][group], sql, params)
                if (got == "42501") == (group in roles):
                    bad.append((name, group, got))
    assert bad == [], bad


def _expected(name: str, rule: str, who: str) -> str:
    """The documented outcome of an app call of ``name`` carrying ``who``'s session: 'allowed' or a code."""
    if who in ("expired", "revoked", "forged", "none"):
        return {"none": "FS081", "forged": "FS082", "expired": "FS083", "revoked": "FS084"}[who]
    if who == "alice":  # the owner, a trader
        return "FS080" if rule == "admin" else "allowed"
    if who == "bob":  # another trader
        return "FS080" if rule == "admin" else "FS085"
    # root, an admin user: admin duties and reads, never another's money
    return "FS085" if rule == "owner" else "allowed"


def test_the_app_acts_only_for_the_session_it_carries(world):
    """Every function taking a session, called by the app on alice's account (or user) with each
    kind of session: exactly the documented outcome, and nothing changed by a refusal."""
    app = world["logins"]["finshard_app"]
    bad = []
    with world["db"].connect() as conn:
        before = snapshot(conn)
        for name, (roles, rule) in documented().items():
            if rule not in {"owner", "owner_or_admin", "self_or_admin", "admin"}:
                continue
            user_scoped = conn.execute(
                "SELECT proargnames[1] = 'p_user_id' FROM pg_proc WHERE pronamespace = 'finshard'::regnamespace "
                "AND proname = %s", (name,)).fetchone()[0]
            first = world["alice"]["user" if user_scoped else "account"]
            for who in ("alice", "bob", "root", "expired", "revoked", "forged", "none"):
                token = world[who]["token"] if who in ("alice", "bob", "root") else world["sessions"].get(who)
                sql, params = _call_sql(conn, name, first, token)
                got = _outcome(conn, app, sql, params)
                expected = _expected(name, "owner" if name in SENDERS else rule, who)
                ok = (got not in {"42501", "FS080", "FS081", "FS082", "FS083", "FS084", "FS085"}) if expected == "allowed" \
                    else got == expected
                if not ok:
                    bad.append((name, who, expected, got))
        assert snapshot(conn) == before
    assert bad == [], bad


def test_an_end_users_own_duties_need_a_valid_session_even_for_admin_roles(world):
    """Functions of rule `session` (logout, MFA) act for the session's user only: each bad session
    gets its code, and a database role without one, finshard_admin included, is refused."""
    bad = []
    with world["db"].connect() as conn:
        before = snapshot(conn)
        for name, (roles, rule) in documented().items():
            if rule != "session":
                continue
            for who, expected in (("expired", "FS083"), ("revoked", "FS084"), ("forged", "FS082")):
                sql, params = _call_sql(conn, name, None, world["sessions"][who])
                got = _outcome(conn, world["logins"]["finshard_app"], sql, params)
                if got != expected:
                    bad.append((name, who, expected, got))
            if name != "logout":  # logout names its one argument: FS001
                sql, params = _call_sql(conn, name, None, None)
                for group in ("finshard_app", "finshard_admin"):
                    got = _outcome(conn, world["logins"][group], sql, params)
                    if group in roles and got != "FS081":
                        bad.append((name, group, "FS081", got))
        assert snapshot(conn) == before
    assert bad == [], bad


def test_admin_and_readonly_roles_act_as_themselves_without_a_session(world):
    with world["db"].connect() as conn:
        acc = world["alice"]["account"]
        conn.execute(f"SET ROLE {world['logins']['finshard_readonly']}")
        assert conn.execute("SELECT finshard.balance(%s::bigint)", (acc,)).fetchone()[0] is not None
        with pytest.raises(psycopg.Error) as err:  # a report role does not freeze
            conn.execute("SELECT finshard.freeze_account(%s::bigint)", (acc,))
        assert err.value.sqlstate == "42501"
    # Connected as the login itself (as an application would): with SET ROLE, a call that Citus
    # delegates reaches the worker as the role, not as the login that set it.
    admin = world["logins"]["finshard_admin"]
    with psycopg.connect(world["db"].dsn.replace("postgres@", f"{admin}@"), autocommit=True) as conn:
        conn.execute("SELECT finshard.freeze_account(%s::bigint)", (acc,))
        conn.execute("SELECT finshard.unfreeze_account(%s::bigint)", (acc,))
    with world["db"].connect() as conn:
        (actor, on_behalf) = conn.execute("SELECT actor, on_behalf_of FROM finshard.audit_log WHERE account_id = %s "
                                          "ORDER BY audit_seq DESC LIMIT 1", (acc,)).fetchone()
        assert (actor, on_behalf) == (admin, None)


def test_a_transfer_with_the_owners_session_applies_and_records_who(world):
    app = world["logins"]["finshard_app"]
    a, b = world["alice"], world["bob"]
    with psycopg.connect(world["db"].dsn.replace("postgres@", f"{app}@"), autocommit=True) as conn:
        row = conn.execute("SELECT from_balance FROM finshard.transfer(%s::bigint, %s::bigint, 1, p_session => %s)",
                           (a["account"], b["account"], a["token"])).fetchone()
        assert row[0] is not None
    with world["db"].connect() as conn:
        (actor, on_behalf) = conn.execute("SELECT actor, on_behalf_of FROM finshard.audit_log WHERE account_id = %s "
                                          "ORDER BY audit_seq DESC LIMIT 1", (a["account"],)).fetchone()
        assert (actor, on_behalf) == (app, a["user"])


def test_a_login_mixes_calls_in_one_transaction_block(world):
    """Inside BEGIN ... COMMIT a login's calls on one account commit together. On Citus a call
    delegated over the login's own connection and a transfer writing as the functions' owner on the
    coordinator met on one placement, which Citus refuses (25001)."""
    app = world["logins"]["finshard_app"]
    a, b = world["alice"], world["bob"]
    with world["db"].connect() as conn:
        before = dict(conn.execute("SELECT account_id, balance FROM finshard.accounts WHERE account_id = ANY(%s)",
                                   ([a["account"], b["account"]],)).fetchall())
    with psycopg.connect(world["db"].dsn.replace("postgres@", f"{app}@")) as conn:
        conn.execute("SELECT * FROM finshard.deposit(%s::bigint, 5, p_session => %s)", (a["account"], a["token"]))
        conn.execute("SELECT * FROM finshard.transfer(%s::bigint, %s::bigint, 2, p_session => %s)",
                     (a["account"], b["account"], a["token"]))
        conn.execute("SELECT * FROM finshard.withdraw(%s::bigint, 1, p_session => %s)", (a["account"], a["token"]))
        assert conn.execute("SELECT finshard.balance(%s::bigint, p_session => %s)",
                            (b["account"], b["token"])).fetchone()[0] == before[b["account"]] + 2
        conn.commit()
    with world["db"].connect() as conn:
        after = dict(conn.execute("SELECT account_id, balance FROM finshard.accounts WHERE account_id = ANY(%s)",
                                  ([a["account"], b["account"]],)).fetchall())
    assert after == {a["account"]: before[a["account"]] + 2, b["account"]: before[b["account"]] + 2}


def test_a_session_ends_with_logout_a_new_password_and_deactivation(world):
    db = world["db"]
    with db.connect() as conn:
        uid = new_user(conn)
        name = conn.execute("SELECT username FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()[0]
        acc = conn.execute("SELECT finshard.open_account(%s::bigint)", (uid,)).fetchone()[0]
        conn.execute(f"SET ROLE {world['logins']['finshard_app']}")

        def login() -> str:
            return conn.execute("SELECT token FROM finshard.login(%s, 'correct horse')", (name,)).fetchone()[0]

        def balance(token: str) -> str:
            try:
                conn.execute("SELECT finshard.balance(%s::bigint, %s)", (acc, token))
                return "ok"
            except psycopg.Error as exc:
                return exc.sqlstate or "?"

        t1 = login()
        assert balance(t1) == "ok"
        conn.execute("SELECT finshard.logout(%s)", (t1,))
        assert balance(t1) == "FS084"
        t2 = login()
        conn.execute("SELECT finshard.update_user(%s::bigint, p_password => 'new horse!', p_session => %s, "
                     "p_current_password => 'correct horse')", (uid, t2))
        assert balance(t2) == "FS084"
        t3 = conn.execute("SELECT token FROM finshard.login(%s, 'new horse!')", (name,)).fetchone()[0]
        assert balance(t3) == "ok"
        conn.execute("RESET ROLE")
        conn.execute("SELECT finshard.deactivate_user(%s::bigint)", (uid,))
        conn.execute(f"SET ROLE {world['logins']['finshard_app']}")
        assert balance(t3) == "FS084"


def test_a_session_alone_cannot_take_the_login_over(world):
    """A new password or email through the user's own session needs the current password, checked
    (and counted) as a login: a session left open, or stolen, is not enough."""
    db = world["db"]
    with db.connect() as conn:
        uid = new_user(conn)
        name = conn.execute("SELECT username FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()[0]
        conn.execute(f"SET ROLE {world['logins']['finshard_app']}")
        token = conn.execute("SELECT token FROM finshard.login(%s, 'correct horse')", (name,)).fetchone()[0]
        conn.execute("RESET ROLE")
        user = lambda c: c.execute("SELECT email, password_hash, failed_logins FROM finshard.users "  # noqa: E731
                                   "WHERE user_id = %s", (uid,)).fetchone()
        before = user(conn)
        conn.execute(f"SET ROLE {world['logins']['finshard_app']}")
        for change in ("p_password => 'taken over!'", f"p_email => 'thief{uid}@example.com'"):
            for proof, code in (("", "FS001"), (", p_current_password => 'a guess!'", "FS024")):
                with pytest.raises(psycopg.Error) as err:
                    conn.execute(f"SELECT finshard.update_user(%s::bigint, {change}, p_session => %s{proof})", (uid, token))
                assert err.value.sqlstate == code, (change, proof, err.value.diag.message_primary)
        conn.execute("RESET ROLE")
        after = user(conn)
        assert after[:2] == before[:2]
        assert after[2] == before[2] + 2  # each wrong guess counted as a failed login
        conn.execute(f"SET ROLE {world['logins']['finshard_app']}")
        conn.execute("SELECT finshard.update_user(%s::bigint, p_email => %s, p_session => %s, p_current_password => 'correct horse')",
                     (uid, f"moved{uid}@example.com", token))
        # Names and the like need no password.
        conn.execute("SELECT finshard.update_user(%s::bigint, p_first_name => 'Al', p_session => %s)", (uid, token))
        conn.execute("RESET ROLE")
        assert conn.execute("SELECT email FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()[0] == f"moved{uid}@example.com"


def test_a_user_deactivates_themselves_with_the_current_password_and_no_one_else(world):
    db = world["db"]
    with db.connect() as conn:
        uid, other = new_user(conn), new_user(conn)
        name, other_name = (conn.execute("SELECT username FROM finshard.users WHERE user_id = %s", (u,)).fetchone()[0] for u in (uid, other))
        conn.execute(f"SET ROLE {world['logins']['finshard_app']}")
        token = conn.execute("SELECT token FROM finshard.login(%s, 'correct horse')", (name,)).fetchone()[0]
        other_token = conn.execute("SELECT token FROM finshard.login(%s, 'correct horse')", (other_name,)).fetchone()[0]
        for args, code in (("%s::bigint, p_session => %s", "FS001"),                                   # a session alone
                           ("%s::bigint, p_session => %s, p_current_password => 'a guess!'", "FS024")):
            with pytest.raises(psycopg.Error) as err:
                conn.execute(f"SELECT finshard.deactivate_user({args})", (uid, token))
            assert err.value.sqlstate == code
        with pytest.raises(psycopg.Error) as err:  # another trader
            conn.execute("SELECT finshard.deactivate_user(%s::bigint, p_session => %s, p_current_password => 'correct horse')",
                         (uid, other_token))
        assert err.value.sqlstate == "FS085"
        conn.execute("RESET ROLE")
        assert conn.execute("SELECT is_active FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()[0] is True
        conn.execute(f"SET ROLE {world['logins']['finshard_app']}")
        conn.execute("SELECT finshard.deactivate_user(%s::bigint, p_session => %s, p_current_password => 'correct horse')", (uid, token))
        with pytest.raises(psycopg.Error) as err:
            conn.execute("SELECT finshard.login(%s, 'correct horse')", (name,))
        assert err.value.sqlstate == "FS024"
        conn.execute("RESET ROLE")
        assert conn.execute("SELECT is_active FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()[0] is False


def test_a_trader_cannot_make_anyone_an_admin(world):
    with world["db"].connect() as conn:
        conn.execute(f"SET ROLE {world['logins']['finshard_app']}")
        a = world["alice"]
        for sql, params in [
            ("SELECT finshard.update_user(%s::bigint, p_role => 'admin', p_session => %s)", (a["user"], a["token"])),
            ("SELECT finshard.create_user('mallory' || %s, 'm' || %s || '@example.com', 'correct horse', 'admin')",
             (uuid.uuid4().hex[:6], uuid.uuid4().hex[:6])),
        ]:
            with pytest.raises(psycopg.Error) as err:
                conn.execute(sql, params)
            assert err.value.sqlstate == "FS080"
        # An admin user's session may.
        root = world["root"]
        conn.execute("SELECT finshard.update_user(%s::bigint, p_role => 'trader', p_session => %s)", (world["bob"]["user"], root["token"]))


def test_a_deactivated_users_account_can_receive_but_not_send(db):
    with db.connect() as conn:
        a = conn.execute("SELECT finshard.open_account(%s::bigint)", (new_user(conn),)).fetchone()[0]
        b = conn.execute("SELECT finshard.open_account(%s::bigint)", (new_user(conn),)).fetchone()[0]
        conn.execute("SELECT finshard.deposit(%s::bigint, 50)", (a,))
        owner = conn.execute("SELECT user_id FROM finshard.accounts WHERE account_id = %s", (a,)).fetchone()[0]
        conn.execute("SELECT finshard.deactivate_user(%s::bigint)", (owner,))
        conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 5)", (b, a)) if False else None
        conn.execute("SELECT finshard.deposit(%s::bigint, 5)", (a,))
        for sql in ("SELECT finshard.transfer(%s::bigint, %s::bigint, 5)", "SELECT finshard.withdraw(%s::bigint, 5)"):
            with pytest.raises(psycopg.Error) as err:
                conn.execute(sql, (a, b) if "transfer" in sql else (a,))
            assert err.value.sqlstate == "FS021"
        assert conn.execute("SELECT balance FROM finshard.accounts WHERE account_id = %s", (a,)).fetchone()[0] == 55


def test_readonly_reads_no_credentials_or_personal_data(world):
    with world["db"].connect() as conn:
        conn.execute(f"SET ROLE {world['logins']['finshard_readonly']}")
        assert conn.execute("SELECT count(*) FROM finshard.accounts").fetchone()[0] > 0
        conn.execute("SELECT user_id, username, role FROM finshard.users LIMIT 1")
        for column in ("password_hash", "email", "pii", "pan_hmac", "pan_last4"):
            with pytest.raises(psycopg.Error) as err:
                conn.execute(f"SELECT {column} FROM finshard.users LIMIT 1")
            assert err.value.sqlstate == "42501", column
            conn.rollback() if not conn.autocommit else None
        for table in ("sessions", "idempotency_keys"):
            with pytest.raises(psycopg.Error) as err:
                conn.execute(f"SELECT 1 FROM finshard.{table} LIMIT 1")
            assert err.value.sqlstate == "42501", table


# finshard's functions, the advisory locks and dblink's functions (it would let any login open
# connections from the server).
NOT_PUBLIC = ("(p.pronamespace = 'finshard'::regnamespace OR p.proname LIKE 'pg\\_%%advisory%%' OR p.oid IN "
              "(SELECT d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'dblink' "
              "WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'))")


def test_no_finshard_function_no_advisory_lock_and_no_dblink_is_public(db):
    """PUBLIC (every login) may execute no finshard function, no dblink function, and may take no
    advisory lock: the notification dispatcher is one, and only finshard_admin registers it."""
    with db.connect() as conn:
        public = conn.execute(f"SELECT p.oid::regprocedure::text FROM pg_proc p WHERE {NOT_PUBLIC} "
                              "AND has_function_privilege('public', p.oid, 'EXECUTE')").fetchall()
        if conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'citus'").fetchone()[0]:
            # On every node: Citus creates the functions there, and a worker runs delegated calls.
            counts = conn.execute(f"SELECT result FROM run_command_on_all_nodes($$SELECT count(*) FROM pg_proc p "
                                  f"WHERE {NOT_PUBLIC.replace('%%', '%')} "
                                  "AND has_function_privilege('public', p.oid, 'EXECUTE')$$)").fetchall()
            assert len(counts) > 1 and {r[0] for r in counts} == {"0"}, counts
        login = f"pub{uuid.uuid4().hex[:8]}"
        conn.execute(f"CREATE ROLE {login} LOGIN")
        try:
            conn.execute(f"SET ROLE {login}")
            with pytest.raises(psycopg.Error) as err:
                conn.execute("SELECT pg_advisory_lock(hashtext('finshard.notification_dispatcher')::bigint)")
            assert err.value.sqlstate == "42501"
            with pytest.raises(psycopg.Error) as err:
                conn.execute("SELECT public.dblink_connect('host=127.0.0.1 port=22 dbname=x user=x password=x')")
            assert err.value.sqlstate == "42501"
        finally:
            conn.execute("RESET ROLE")
            conn.execute(f"DROP ROLE {login}")
    assert public == []


@pytest.mark.citus
def test_a_session_is_checked_on_the_worker_without_a_read_on_another_node(citus):
    """The session lives in a reference table: the worker holding both accounts checks the token
    and moves the money issuing no command to any other node."""
    from finshard.router import Router

    with citus.connect() as conn, Router.connect(citus.dsn) as r:
        uid = new_user(conn)
        name = conn.execute("SELECT username FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()[0]
        accounts = [conn.execute("SELECT finshard.open_account(%s::bigint, 'USD', %s)", (uid, kind)).fetchone()[0]
                    for kind in ("cash", "margin", "savings")]
        by_node: dict = {}
        for acc in accounts:
            by_node.setdefault(r.shard_for(acc).node, []).append(acc)
        node, (a, b) = next((n, accs[:2]) for n, accs in by_node.items() if len(accs) >= 2)  # 3 accounts, 2 workers
        conn.execute("SELECT finshard.deposit(%s::bigint, 10)", (a,))
        token = conn.execute("SELECT token FROM finshard.login(%s, 'correct horse')", (name,)).fetchone()[0]
        worker_dsn = r.node_dsn(node)
    remote: list[str] = []
    with psycopg.connect(worker_dsn, autocommit=True) as w:
        w.add_notice_handler(lambda d: remote.append(d.message_primary or ""))
        w.execute("SET citus.log_remote_commands = on")
        w.execute("SET client_min_messages = log")
        assert w.execute("SELECT to_balance FROM finshard.transfer(%s::bigint, %s::bigint, 4, p_session => %s)",
                         (a, b, token)).fetchone()[0] == 4
        with pytest.raises(psycopg.Error) as err:
            w.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 1, p_session => %s)", (a, b, "fss_" + "1" * 64))
        assert err.value.sqlstate == "FS082"
    assert [m for m in remote if "issuing" in m] == []


def test_every_function_that_acts_for_an_end_user_says_so_in_its_comment(plain):
    """COMMENTs list the errors a function raises: the session's among them wherever it takes one."""
    with plain.connect() as conn:
        rows = conn.execute("SELECT p.proname, obj_description(p.oid, 'pg_proc') FROM pg_proc p "
                            "WHERE p.pronamespace = 'finshard'::regnamespace AND p.proname NOT LIKE '\\_%%' AND 'p_session' = ANY (p.proargnames)").fetchall()
    missing = [name for name, comment in rows
               if not re.search(r"FS08[0-5]-FS08[45]|FS081", comment or "") and name not in ("logout", "login")]
    assert rows and missing == []
