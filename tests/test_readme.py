"""The README's router example runs as written, against a real node, as the application login it
names (created the way the README tells an operator to)."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

from finshard.ops.installer import install
from tests.helpers import create_test_login, scratch_database

ROOT = Path(__file__).resolve().parent.parent
README_DSN = "postgresql://shop:PASSWORD@coordinator:5432/finshard?sslmode=verify-full&sslrootcert=ca.crt"


def test_the_readmes_router_example_runs_as_written(plain, capsys) -> None:  # type: ignore[no-untyped-def]
    text = (ROOT / "README.md").read_text()
    apps = text.split("## Applications", 1)[1]
    block = re.search(r"```python\n(.*?)```", apps, re.S)
    assert block and README_DSN in block.group(1), "the README's first Python example changed: update this test"
    with scratch_database(plain, "finshard_readme") as dsn:
        install(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP ROLE IF EXISTS shop")
            create_test_login(conn, plain, "shop", "finshard_app")
        try:
            code = block.group(1).replace(README_DSN, psycopg.conninfo.make_conninfo(dsn, user="shop"))
            exec(compile(code, "README.md", "exec"), {})
            printed = capsys.readouterr().out
            assert printed.startswith("FS013 "), printed  # the example's InsufficientFunds
            with psycopg.connect(dsn, autocommit=True) as conn:
                moved = conn.execute("SELECT count(*) FROM finshard.transfers WHERE idempotency_key = 't-1'").fetchone()[0]
                assert moved == 1
        finally:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("DROP OWNED BY shop")
                conn.execute("DROP ROLE shop")
