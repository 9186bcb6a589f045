"""`migrator --help` and `migrator validate` stay quick: no database libraries on the way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import HEAVY_LIBRARIES
from tests.plans import phased

PLAN = phased(
    "quick",
    [
        '{backfill: {table: t, key: id, statement: "select 1 on conflict do nothing"}}',
        '{http: {url: "http://127.0.0.1:1/x"}}',
    ],
    post_checks=["{query: select 1, expect: 1}"],
)


def test_validate_imports_no_database_or_http_library(tmp_path: Path) -> None:
    plan = tmp_path / "quick.yaml"
    plan.write_text(PLAN)
    probe = (
        "import sys; from migrator.cli import main; code = main(['validate', sys.argv[1]]); "
        f"print(code, sorted(m for m in {HEAVY_LIBRARIES!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(plan)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "0 []"
