"""The package type-checks with mypy --strict: the generated methods promise what py.typed says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_strict_passes_on_the_package(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path), "finshard"],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout[-3000:]


def test_mypy_refuses_a_misspelt_method_and_a_wrong_argument(tmp_path: Path) -> None:
    # What a typed router is for: the mistake is found before the call runs.
    app = tmp_path / "app.py"
    app.write_text("from decimal import Decimal\nfrom finshard import Router, errors\n"
                   "def f(r: Router) -> None:\n"
                   "    r.trasnfer(from_account_id=1, to_account_id=2, amount=Decimal('1'))\n"
                   "    r.transfer(from_acount_id=1, to_account_id=2, amount=Decimal('1'))\n"
                   "    r.transfer(from_account_id=1, to_account_id=2, amount=1.5)\n"
                   "    raise errors.InsufficientFunds('x')\n")
    res = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), str(app)],
                         capture_output=True, text=True, cwd=ROOT)
    out = res.stdout
    assert res.returncode == 1, out
    assert '"Router" has no attribute "trasnfer"' in out
    assert 'Unexpected keyword argument "from_acount_id"' in out
    assert 'incompatible type "float"' in out
    assert "InsufficientFunds" not in out  # the error class exists for mypy
