"""The README's router example runs as written, against a real node, as the application login it
names (created the way the README tells an operator to)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import psycopg

from finshard.ops.installer import install
from tests.helpers import scratch_database, scratch_login

ROOT = Path(__file__).resolve().parent.parent
README_DSN = "postgresql://shop:PASSWORD@coordinator:5432/finshard?sslmode=verify-full&sslrootcert=ca.crt"


def test_the_readmes_router_example_runs_as_written(plain, capsys) -> None:  # type: ignore[no-untyped-def]
    text = (ROOT / "README.md").read_text()
    apps = text.split("## Applications", 1)[1]
    block = re.search(r"```python\n(.*?)```", apps, re.S)
    assert block and README_DSN in block.group(1), "the README's first Python example changed: update this test"
    with scratch_database(plain, "finshard_readme") as dsn:
        install(dsn)
        with scratch_login(plain, dsn, "shop", "finshard_app") as shop:
            code = block.group(1).replace(README_DSN, shop)
            exec(compile(code, "README.md", "exec"), {})
            printed = capsys.readouterr().out
            assert printed.startswith("FS013 "), printed  # the example's InsufficientFunds
            with psycopg.connect(dsn, autocommit=True) as conn:
                moved = conn.execute("SELECT count(*) FROM finshard.transfers WHERE idempotency_key = 't-1'").fetchone()[0]
                assert moved == 1


def _blocks(lang: str, path: Path = ROOT / "README.md") -> list[str]:
    """A Markdown file's fenced code blocks of one language, dedented (some sit in a list item)."""
    import textwrap

    text = path.read_text()
    return [textwrap.dedent(b) for b in re.findall(rf"^ *```{lang}\n(.*?)^ *```", text, re.S | re.M)]


def test_the_python_examples_of_readme_and_docs_pass_mypy_strict(tmp_path: Path) -> None:
    """What the README and docs/ show an application writing type-checks as the package promises.
    A snippet that continues an earlier one (no import of its own) gets a router `r` declared,
    not its body changed."""
    import subprocess
    import sys

    blocks = [(path.name, block) for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
              for block in _blocks("python", path)]
    assert len(blocks) >= 2
    head = "from finshard import Router\nr: Router\n"
    for n, (name, block) in enumerate(blocks):
        path = tmp_path / f"example_{n}.py"
        path.write_text(block if "import " in block else head + block)
        res = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), str(path)],
                             capture_output=True, text=True, cwd=ROOT)
        assert res.returncode == 0, f"{name}, python block:\n{block}\n{res.stdout}"


def test_the_readmes_sql_runs_as_written(plain) -> None:  # type: ignore[no-untyped-def]
    """The DBA block on a fresh install: as a superuser, then the part it marks as a finshard_app
    login's with alice's real token for 'fss_...'; its comments' ids and results hold."""
    (block,) = [b for b in _blocks("sql") if "finshard.transfer(" in b]
    admin_part, app_part = block.split("-- As a finshard_app login, for alice:")
    statements = lambda part: [s.strip() for s in re.split(r";\s*\n", re.sub(r"(^|\s+)-- .*$", "", part, flags=re.M)) if s.strip()]  # noqa: E731
    with scratch_database(plain, "finshard_readme_sql") as dsn:
        install(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            results = [conn.execute(s.rstrip(";")).fetchall() for s in statements(admin_part)]
            assert results[0] == [(1,)] and results[1] == [(2,)] and results[2] == [(4,)] and results[3] == [(5,)]
            assert conn.execute("SELECT balance FROM finshard.accounts WHERE account_id = 4").fetchone()[0] == Decimal("935.00") - Decimal("5") * Decimal("99.45") - conn.execute(
                "SELECT coalesce(sum(-amount), 0) FROM finshard.transactions WHERE account_id = 4 AND transaction_type = 'fee'").fetchone()[0]
            assert results[-2] == [] and results[-1] == []  # audit_verify, ledger_verify
        with scratch_login(plain, dsn, "shop_sql", "finshard_app") as shop:
            with psycopg.connect(shop, autocommit=True) as app:
                app_statements = statements(app_part)
                token = app.execute(app_statements[0].rstrip(";")).fetchone()[0]
                assert token.startswith("fss_")
                for s in app_statements[1:]:
                    app.execute(s.rstrip(";").replace("'fss_...'", "%s"), (token,))
            with psycopg.connect(dsn, autocommit=True) as conn:
                assert conn.execute("SELECT count(*) FROM finshard.transfers WHERE idempotency_key = 'tr-2'").fetchone()[0] == 1
