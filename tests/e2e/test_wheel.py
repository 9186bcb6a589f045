"""The wheel is the product: built with `python -m build`, installed into a fresh
virtualenv, `migrator demo` tells the whole story from it, in an empty folder, on the
embedded PostgreSQL, with the plans and the demo's SQL read from the installed package.

Built from a copy of the tracked files (`git ls-files`, as they are in the work tree), so
the repository gets no build/ or *.egg-info, and a file git does not know (that a clone,
and so CI, would not have) cannot make the test pass. Everything
lives in temporary folders outside the session's pytest folder (a virtualenv is too big
for the secrets sweep's end-of-session walk); the demo's folder, its database and every
captured output are shown to the sweep before they go. The embedded server the demo
started is stopped, and the test fails if a postgres process is left running.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
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

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = 300  # as features/demo: the whole story, in little more than its waits and soaks
NOT_INHERITED = ("MIGRATOR_DSN", "DATABASE_URL", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
STOP_SERVER = (  # run by the virtualenv's python: its own migrator, as tests/bdd/test_embedded
    "import sys, pathlib; from migrator.db import embedded; "
    "embedded.stop(pathlib.Path(sys.argv[1]))"
)


def _run(
    argv: list[str | Path | int],
    timeout: float,
    cwd: Path,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """A bounded subprocess, its output captured through communicate() (the sweep reads it)."""
    return subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


def _tail(proc: subprocess.CompletedProcess[str], lines: int = 60) -> str:
    return "\n".join((proc.stdout + proc.stderr).splitlines()[-lines:])


def _tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
    ).stdout
    return [os.fsdecode(name) for name in listed.split(b"\0") if name]


def _copy_tracked(dest: Path) -> list[str]:
    """The tracked files as they are in the work tree (symlinks kept), under `dest`."""
    copied = []
    for rel in _tracked_files():
        source = ROOT / rel
        if not os.path.lexists(source):
            continue  # deleted in the work tree, not yet committed
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
        copied.append(rel)
    return copied


@dataclass(frozen=True)
class Wheel:
    path: Path
    source: Path  # the copy it was built from
    tracked: list[str]


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
def wheel(workdir: Path) -> Wheel:
    litter_before = _build_litter()
    source = workdir / "source"
    tracked = _copy_tracked(source)
    dist = workdir / "dist"
    built = _run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", dist, source],
        timeout=600,
        cwd=workdir,
    )
    assert built.returncode == 0, _tail(built)
    wheels = sorted(dist.glob("migrator-*.whl"))
    assert len(wheels) == 1, (wheels, _tail(built))
    assert _build_litter() == litter_before  # the build happened in the copy only
    return Wheel(wheels[0], source, tracked)


def _build_litter() -> set[Path]:
    return {
        path
        for pattern in ("build", "dist", "*.egg-info", "src/*.egg-info", "plugins/*.egg-info")
        for path in ROOT.glob(pattern)
    }


@pytest.fixture(scope="module")
def venv(workdir: Path, wheel: Wheel) -> Venv:
    root = workdir / "venv"
    made = _run([sys.executable, "-m", "venv", root], timeout=180, cwd=workdir)
    assert made.returncode == 0, _tail(made)
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}  # PIP_* stay
    env["VIRTUAL_ENV"] = str(root)
    env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    python = root / "bin" / "python"
    installed = _run(
        [python, "-m", "pip", "install", "--quiet", wheel.path],
        timeout=900,
        env=env,
        cwd=workdir,
    )
    assert installed.returncode == 0, _tail(installed)
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
    """Stop the server as the project does (`embedded.stop`, here the virtualenv's own);
    if that failed, a fast and then an immediate shutdown of its postmaster."""
    pid = _postmaster_pid(pgdata)
    if pid is None or not _alive(pid):
        return
    stop = [venv.python, "-c", STOP_SERVER, pgdata]
    stopped = _run(stop, timeout=60, cwd=pgdata.parent, env=venv.env)
    for sig, wait in ((None, 5), (signal.SIGINT, 30), (signal.SIGQUIT, 30)):
        if sig is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _alive(pid):
            return
    raise AssertionError(f"the embedded PostgreSQL (pid {pid}) did not stop: {_tail(stopped)}")


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
    where = _run(
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

    proc = _run(
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

    # 1-2. The broken state, the symptom and its cause.
    assert "━━ 1. A scoring database in the IR-07 broken state" in out
    assert re.search(
        rf"{SESSIONS} sessions, [\d,]+ completed, [\d,]+ profiles: 45 completed sessions "
        "have no profile",
        out,
    ), out
    assert (
        'finalizeAssessment -> 500: new row violates row-level security policy for table "profiles"'
        in out
    )
    assert "rls_without_policy   public.profiles" in out

    # 3-4. IR-07 and IR-08, from the plans inside the installed package.
    assert "━━ 3. IR-07: the hotfix" in out
    assert (
        f"$ migrator apply {plans / PLAN_FILES['ir07']} --yes --var app_url=http://127.0.0.1:"
        in out
    )
    assert f"$ migrator apply {plans / PLAN_FILES['ir08']}\n" in out

    # 5-7. Dual write, the cutover that fails and is undone, the repaired cutover.
    assert f"$ migrator apply {plans / PLAN_FILES['scoring']} --to dual_write" in out
    assert "━━ 6. A cutover that must not happen" in out
    assert "run undone: a post-check failed" in out

    # 8. The way back: every session scored while unified-only gets its legacy rows.
    lacking = re.search(r"(\d+) sessions scored while unified-only have no legacy rows", out)
    assert lacking, out
    count = int(lacking[1])
    assert count > 0  # users kept scoring while the plan was unified-only
    assert f"{count} of {count} have complete legacy rows now" in out

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
    assert f"migrator status {plans / PLAN_FILES['scoring']}" in out
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
