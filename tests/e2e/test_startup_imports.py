"""Start-up stays fast: what `migrator --help` and `migrator validate` of a small plan import,
each in a fresh process (docs/performance.md, "Start-up").

Measured when this was written (`python -X importtime -m migrator --help`): `import
migrator` took about 130 ms, pydantic and pluggy its heaviest parts; `--help` imports no
plugin, no YAML reader, no database driver, no rich. `validate` loads the plugins (their
`__init__` only: each imports its working modules when a hook needs them), pydantic and
the YAML reader, and still no database driver and no HTTP client. None of them imports
what the reporting plugins use (OpenTelemetry, prometheus_client, an HTTP client: the
standard library's urllib.request, http.client, ssl, ~18 ms, or httpx) unless a
run asks for it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# What a run may need and --help or validate never does.
NEVER = ("opentelemetry", "prometheus_client", "httpx", "requests", "sqlalchemy", "psycopg")
# The HTTP client the project does use (the http action, notify, the pushgateway): the
# standard library's, about 18 ms with http.client, ssl and email. Dotted: whole modules.
NEVER_MODULES = ("urllib.request", "http.client", "ssl")

PROBE = """\
import json, runpy, sys
out, sys.argv = sys.argv[1], ["migrator", *sys.argv[2:]]
try:
    runpy.run_module("migrator", run_name="__main__", alter_sys=True)
except SystemExit as exit:
    code = exit.code
else:
    code = 0
with open(out, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def imported(tmp_path: Path, *argv: str) -> set[str]:
    """The modules a fresh `python -m migrator ARGV...` had imported when it ended."""
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.exists(), done.stderr
    result = json.loads(out.read_text())
    assert result["code"] in (0, None), done.stdout + done.stderr
    return set(result["modules"])


def roots(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.mark.parametrize("argv", [["--help"], ["plan", "--help"], ["docs", "--help"]])
def test_help_imports_no_plugin_no_yaml_no_driver(tmp_path: Path, argv: list[str]) -> None:
    modules = imported(tmp_path, *argv)
    found = roots(modules)
    assert "migrator" in found and "click" in found  # the probe did run migrator
    assert not found & set(NEVER), sorted(found & set(NEVER))
    assert not modules & set(NEVER_MODULES), sorted(modules & set(NEVER_MODULES))
    assert not found & {"yaml", "rich", "transitions"}, sorted(found)
    plugins = sorted(r for r in found if r.startswith("migrator_"))
    assert plugins == [], f"--help loaded plugins: {plugins}"


def test_validate_of_a_small_plan_imports_no_driver_and_no_reporting_library(
    tmp_path: Path,
) -> None:
    plan = tmp_path / "small.yaml"
    plan.write_text(
        "plan: small\nkind: hotfix\nsteps:\n"
        "  - sql: create table t (id int)\n    rollback: {sql: drop table t}\n"
        "post_checks:\n  - {query: select count(*) from t, expect: 0}\n"
    )
    modules = imported(tmp_path, "validate", str(plan))
    found = roots(modules)
    assert {"migrator_sql", "yaml"} <= found  # it did load the plugins and read the plan
    assert not found & set(NEVER), sorted(found & set(NEVER))
    assert not modules & set(NEVER_MODULES), sorted(modules & set(NEVER_MODULES))


@pytest.mark.parametrize("command", ["apply", "rollback", "resume"])
def test_help_of_a_command_with_plugin_options_imports_no_reporting_library(
    tmp_path: Path, command: str
) -> None:
    """`apply --help` loads the plugins (their `__init__` only) for the options they add:
    none of them may import what it reports with before a run asks for it."""
    modules = imported(tmp_path, command, "--help")
    found = roots(modules)
    assert "migrator_metrics" in found  # the plugins were loaded: --metrics-file is listed
    assert not found & set(NEVER), sorted(found & set(NEVER))
    assert not modules & set(NEVER_MODULES), sorted(modules & set(NEVER_MODULES))
