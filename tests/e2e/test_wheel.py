"""The wheel is the product: built with `python -m build` (tests/wheels.py, once per
session), installed into a fresh virtualenv, `migrator demo` tells the whole story from
it, in an empty folder, on the embedded PostgreSQL, with the plans and the demo's SQL read
from the installed package.

Everything lives in temporary folders outside the session's pytest folder (a virtualenv
is too big for the secrets sweep's end-of-session walk); the demo's folder, its database
and every captured output are shown to the sweep before they go. The embedded server the
demo started is stopped with `migrator server stop`, and the test fails if a postgres
process is left running.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
import pytest

from migrator.demo.story import PLAN_FILES
from tests import secrets_sweep
from tests.wheels import ROOT, Wheel, run, tail

pytestmark = pytest.mark.slow

SESSIONS = 300  # as features/demo: the whole story, in little more than its waits and soaks
NOT_INHERITED = ("MIGRATOR_DSN", "DATABASE_URL", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")


@dataclass(frozen=True)
class Venv:
    root: Path
    python: Path
    migrator: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mg-wheel-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def venv(workdir: Path, wheel: Wheel) -> Venv:
    root = workdir / "venv"
    made = run([sys.executable, "-m", "venv", root], timeout=180, cwd=workdir)
    assert made.returncode == 0, tail(made)
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}  # PIP_* stay
    env["VIRTUAL_ENV"] = str(root)
    env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    python = root / "bin" / "python"
    installed = run(
        [python, "-m", "pip", "install", "--quiet", wheel.path],
        timeout=900,
        env=env,
        cwd=workdir,
    )
    assert installed.returncode == 0, tail(installed)
    return Venv(root, python, root / "bin" / "migrator", env)


@pytest.fixture
def demo_folder(venv: Venv, request: pytest.FixtureRequest) -> Iterator[Path]:
    """An empty folder outside the repository (a short path: the server's socket lives in
    its data folder). Afterwards the embedded server in it is stopped, and none is left."""
    folder = Path(tempfile.mkdtemp(prefix="mg-demo-")).resolve()
    yield folder
    pgdata = folder / ".migrator" / "pgdata"
    try:
        _end_app(folder)
        if pgdata.exists():
            _stop_server(venv, pgdata)
        left = _postgres_of(pgdata)
        assert not left, f"postgres processes left running: {left}"
    finally:
        sweep = secrets_sweep.sweep_of(request.config)
        if sweep is not None:
            sweep.check_tree(folder)  # the server's log, the demo's files
        shutil.rmtree(folder, ignore_errors=True)


def _postgres_of(pgdata: Path) -> list[int]:
    """The pids of postgres processes of `pgdata`: the postmaster names it on its command
    line, and it and its children work in it."""
    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline", "cwd"]):
        info = proc.info
        if info["name"] == "postgres" and (
            info["cwd"] == str(pgdata) or str(pgdata) in " ".join(info["cmdline"] or [])
        ):
            found.append(info["pid"])
    return found


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _stop_server(venv: Venv, pgdata: Path) -> None:
    """Stop the server as a user would (`migrator server stop`, the virtualenv's own, in
    the folder); if that failed, a fast and then an immediate shutdown of its postmaster."""
    pid = _postmaster_pid(pgdata)
    if pid is None or not _alive(pid):
        return
    stop = [venv.migrator, "server", "stop"]
    stopped = run(stop, timeout=60, cwd=pgdata.parent.parent, env=venv.env)
    for sig, wait in ((None, 5), (signal.SIGINT, 30), (signal.SIGQUIT, 30)):
        if sig is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _alive(pid):
            return
    raise AssertionError(f"the embedded PostgreSQL (pid {pid}) did not stop: {tail(stopped)}")


def _demo_apps(folder: Path) -> list[psutil.Process]:
    """The demo's scoring apps started in `folder` (they run in a session of their own)."""
    apps = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        if proc.info["cwd"] == str(folder) and "migrator.demo.app" in (proc.info["cmdline"] or []):
            apps.append(proc)
    return apps


def _end_app(folder: Path) -> None:
    """A demo killed by its timeout cannot stop its app: end it here, by its pid."""
    for app in _demo_apps(folder):
        with contextlib.suppress(psutil.NoSuchProcess):
            app.terminate()
            try:
                app.wait(10)
            except psutil.TimeoutExpired:
                app.kill()


def test_the_wheel_ships_the_code_the_plugins_the_plans_and_the_demo_sql(wheel: Wheel) -> None:
    with zipfile.ZipFile(wheel.path) as zf:
        names = set(zf.namelist())
        # Every tracked file of the packages, as it is in the source: code, plugins,
        # py.typed, the demo's SQL and its plans.
        shipped = [rel for rel in wheel.tracked if rel.startswith(("src/", "plugins/"))]
        for rel in shipped:
            name = rel.split("/", 1)[1]
            assert name in names, f"{rel} is not in {wheel.path.name}"
            assert zf.read(name) == (wheel.source / rel).read_bytes(), name
        for name in PLAN_FILES.values():  # what `migrator demo` reads
            assert f"migrator/demo/plans/{name}" in names
        for sql in ("scoring.sql", "supabase.sql"):
            assert f"migrator/demo/{sql}" in names
        # plans/ in a clone only points into the package.
        for link in sorted((wheel.source / "plans").iterdir()):
            assert link.is_symlink(), link
            inside = link.resolve().relative_to((wheel.source / "src").resolve())
            assert inside.as_posix() in names
        # The command and the built-in plugins' entry points.
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        points = zf.read(entry_points).decode()
        assert "migrator = migrator.__main__:run" in points
        plugins = ["sql", "flag", "policy", "backfill", "manual", "http", "rlsaudit"]
        for plugin in [*plugins, "command", "wait"]:
            assert f"{plugin} = migrator_{plugin}" in points
        # Nothing of the repository beyond the packages.
        assert not [n for n in names if n.startswith(("tests/", "features/", "plans/"))]


def test_the_demo_runs_from_the_installed_wheel(
    venv: Venv, demo_folder: Path, request: pytest.FixtureRequest
) -> None:
    # The migrator that runs is the wheel's, in the virtualenv, not this checkout.
    where = run(
        [
            venv.python,
            "-c",
            "import migrator, migrator_sql, sysconfig; print(migrator.__file__); "
            "print(migrator_sql.__file__); print(sysconfig.get_paths()['purelib'])",
        ],
        timeout=60,
        env=venv.env,
        cwd=demo_folder,
    )
    assert where.returncode == 0, where.stderr
    module, plugin, purelib = (Path(line) for line in where.stdout.splitlines())
    site = purelib.resolve()
    for path in (module, plugin):
        assert path.resolve().is_relative_to(site), (path, site)
        assert not path.resolve().is_relative_to(ROOT), path
    plans = module.parent / "demo" / "plans"  # as the demo names them: the package's copy

    proc = run(
        [venv.migrator, "demo", "--sessions", SESSIONS],
        timeout=600,
        env=venv.env,
        cwd=demo_folder,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
    assert (demo_folder / ".migrator" / "pgdata" / "PG_VERSION").is_file()
    assert "started the embedded PostgreSQL in .migrator/pgdata" in out
    # The demo fits its lines to the terminal: commands broken between their words with
    # ` \\`, prose between words. `typed` joins the commands, `words` every line.
    typed = re.sub(r" \\\n +", " ", out)
    words = " ".join(out.split())

    # 1-2. The broken state, the symptom and its cause.
    assert "━━ 1. A scoring database in the IR-07 broken state" in out
    assert re.search(
        rf"{SESSIONS} sessions, [\d,]+ completed, [\d,]+ profiles: 45 completed sessions "
        "have no profile",
        words,
    ), out
    assert (
        'finalizeAssessment -> 500: new row violates row-level security policy for table "profiles"'
        in words
    )
    assert re.search(r"error +rls_without_policy .*\n +public\.profiles ", out), out

    # 3-4. IR-07 and IR-08, from the plans inside the installed package.
    assert "━━ 3. IR-07: the hotfix" in out
    assert (
        f"$ migrator apply {plans / PLAN_FILES['ir07']} --yes --var app_url=http://127.0.0.1:"
        in typed
    )
    assert f"$ migrator apply {plans / PLAN_FILES['ir08']}\n" in typed

    # 5-7. Dual write, the cutover that fails and is undone, the repaired cutover.
    assert f"$ migrator apply {plans / PLAN_FILES['scoring']} --to dual_write" in typed
    assert "━━ 6. A cutover that must not happen" in out
    assert "run undone: a post-check failed" in out

    # 8. The way back: every session scored while unified-only gets its legacy rows.
    lacking = re.search(r"(\d+) sessions scored while unified-only have no legacy rows", words)
    assert lacking, out
    count = int(lacking[1])
    assert count > 0  # users kept scoring while the plan was unified-only
    assert f"{count} of {count} have complete legacy rows now" in words

    # 9. The summary.
    assert "━━ 9. What happened" in out
    rebuilt = re.search(r"IR-08 backfill +(\d+) profiles rebuilt", out)
    assert rebuilt and int(rebuilt[1]) >= 45, out
    for what, outcome in (
        ("IR-07 hotfix", "applied: profiles are written again"),
        ("cutover with a broken parity", "failed, undone automatically"),
        ("scoring results", "legacy -> dual_write -> unified_only"),
        ("rollback to dual_write", f"{count} unified-only sessions written back"),
    ):
        assert f"   {what:<30} {outcome}\n" in out, (what, out)
    assert f"migrator status {plans / PLAN_FILES['scoring']}" in typed
    assert not _demo_apps(demo_folder), "the demo left its scoring app running"

    # The database the summary points at holds what the story says.
    shown = re.search(r"export MIGRATOR_DSN='([^']+)'", out)
    assert shown, out
    with psycopg.connect(shown[1], connect_timeout=10) as conn:
        phases = conn.execute(
            "select plan || ' ' || phase from migrator.plan_state order by 1"
        ).fetchall()
        runs = conn.execute(
            "select transition || ' ' || status from migrator.runs "
            "where plan = 'scoring-results-unification' order by id"
        ).fetchall()
    assert [p for (p,) in phases] == [
        "ir-07-profiles-rls-hotfix applied",
        "ir-08-backfill-profiles applied",
        "scoring-results-unification dual_write",
    ]
    assert [r for (r,) in runs] == [
        "enable_dual_write succeeded",
        "cutover undone",
        "cutover succeeded",
        "back_to_dual_write succeeded",
    ]
    sweep = secrets_sweep.sweep_of(request.config)
    if sweep is not None:
        sweep.check_database(shown[1])

    # The server the demo left running, as `migrator server` shows it, and stopped by it.
    status = run([venv.migrator, "server", "status", "--output", "json"], 60, demo_folder, venv.env)
    assert status.returncode == 0, tail(status)
    server = json.loads(status.stdout)
    assert server["running"] is True, server
    assert server["version"].startswith("18."), server
    assert server["data_folder"] == str(demo_folder / ".migrator" / "pgdata")
    assert Path(server["programs"]).resolve().is_relative_to(site)  # the wheel's own server
    stopped = run([venv.migrator, "server", "stop"], 60, demo_folder, venv.env)
    assert stopped.returncode == 0, tail(stopped)
    assert f"stopped the embedded PostgreSQL (pid {server['pid']})" in stopped.stdout
    assert not _postgres_of(demo_folder / ".migrator" / "pgdata")
