"""The secrets sweep: two secrets flow through the whole test suite and must surface nowhere.

- **A DSN password.** Every DSN the shared fixtures hand out (`admin_dsn`, `database`, and
  so every `migrator` run, BDD scenario and subprocess given one) carries `password=`
  PASSWORD. The test server trusts its unix socket, so PostgreSQL ignores it; every line
  of migrator's own code sees it.
- **An `${env:...}` secret.** ENV_NAME holds ENV_VALUE for the whole session (subprocesses
  inherit it); tests/e2e/test_secrets.py sends it through every place a plan may use one.

Each secret is searched whole and as every piece of FRAGMENT (12) characters: a secret
cut in two before it was masked leaves a piece that no longer matches it whole.

Searched, test by test, and named with the test that produced it when found:

- everything a test reads back from `capsys`/`capfd` (the `migrator` fixture, the BDD
  steps, every in-process `main()`), and what it left uncaptured (the report sections,
  logging included);
- everything written to a `migrator.api.Context`'s `out` and `err` (library calls);
- the stdout and stderr of every subprocess read through `communicate()` (and so
  `subprocess.run`);
- the `migrator` tables of every `database` fixture, just before it is dropped
  (`check_database(dsn)` for fixtures that make databases of their own), but for where a
  secret is kept by design: the value of a flag marked as set from a secret (in
  `migrator.flags`; an application reads it), and the values its undo puts back
  (`migrator.kept_flag_values`);
- at the end: every file under the session's temporary folder (plans, flag files, logs,
  reports, generated docs) and the test server's log.

The last test of the session, `secrets sweep`, fails and lists every place a secret
was found. It is added to whatever selection runs (`-k`, a single file).
"""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PLUGIN_NAME = "secrets-sweep"
ENV_NAME = "MIGRATOR_SWEEP_SECRET"
MAX_FILE = 8 * 1024 * 1024  # bigger files (a WAL segment) are not read
FRAGMENT = 12
"""A secret's pieces of this many characters are searched too: a secret cut in two (text
cut short before it was masked) leaves one."""

# Where a secret is kept by design, so not searched: the value of a flag set from a secret
# (the application reads it) and what the undo of its step puts back.
_KEPT_BY_DESIGN = {
    "flags": (
        "select t::text from migrator.flags t where not exists (select 1 from "
        "migrator.secret_flags s where s.store = 'table' and s.name = t.name)"
    ),
    "kept_flag_values": (
        "select (to_jsonb(t) - 'previous' - 'value' || jsonb_build_object("
        "'previous', case when t.previous_secret then null else t.previous end, "
        "'value', case when t.value_secret then null else t.value end))::text "
        "from migrator.kept_flag_values t"
    ),
}


class SecretsSweep:
    """Holds the session's secrets, watches where text goes, and remembers each sighting."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.password = f"sweep-pw-{secrets.token_hex(8)}"
        self.env_value = f"sweep-env-{secrets.token_hex(8)}"
        self.secrets = {
            "the DSN password": self.password,
            f"${{env:{ENV_NAME}}}": self.env_value,
        }
        self.found: dict[str, None] = {}  # an ordered set of sightings
        self.current = "(collection)"
        self.files: list[Path] = []  # read at the end (the test server's log)
        self._undo: list[Any] = []
        self.texts = 0  # how many texts, databases and files were searched, and how long it took
        self.databases = 0
        self.file_count = 0
        self.seconds = 0.0

    # -- the sightings ------------------------------------------------------------------------

    def mask(self, text: str) -> str:
        for label, value in self.secrets.items():
            text = text.replace(value, f"<{label}>")
        return text

    def check(self, text: str | bytes | None, where: str) -> None:
        """Remember every secret `text` holds, as seen in `where` during the current test."""
        if not text:
            return
        started = time.perf_counter()
        try:
            self._check(text, where)
        finally:
            self.seconds += time.perf_counter() - started

    def fragments(self, value: str) -> list[str]:
        """Every FRAGMENT-character piece of `value` (the whole of a shorter one)."""
        if len(value) <= FRAGMENT:
            return [value]
        return [value[i : i + FRAGMENT] for i in range(len(value) - FRAGMENT + 1)]

    def _check(self, text: str | bytes, where: str) -> None:
        self.texts += 1
        data = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        for label, value in self.secrets.items():
            piece = next((f for f in self.fragments(value) if f in data), None)
            if piece is not None:
                line = next(ln for ln in data.splitlines() if piece in ln)
                what = label if value in data else f"a piece of {label} ({len(piece)} characters)"
                shown = self.mask(line.strip()).replace(piece, f"<{what}>")[:300]
                self.found[f"{self.current}: {what} in {where}: {shown}"] = None

    def check_database(self, dsn: str) -> None:
        """Every row of every table in schema `migrator` of the database at `dsn`."""
        import psycopg
        from psycopg import sql

        started = time.perf_counter()
        self.databases += 1
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
                tables = conn.execute(
                    "select table_name from information_schema.tables "
                    "where table_schema = 'migrator' order by 1"
                ).fetchall()
                names = {table for (table,) in tables}
                for table in sorted(names):
                    query: Any = sql.SQL("select t::text from migrator.{} t").format(
                        sql.Identifier(table)
                    )
                    if table in _KEPT_BY_DESIGN and "secret_flags" in names:
                        query = sql.SQL(_KEPT_BY_DESIGN[table])  # type: ignore[arg-type]
                    rows = conn.execute(query).fetchall()
                    self._check("\n".join(r[0] for r in rows), f"table migrator.{table}")
        except psycopg.OperationalError:
            pass  # the test dropped its database itself
        finally:
            self.seconds += time.perf_counter() - started

    def check_tree(self, root: Path) -> None:
        """Every file under `root` (text or not), up to MAX_FILE bytes each."""
        started = time.perf_counter()
        for path in sorted(root.rglob("*")) if root.exists() else []:
            try:
                if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_FILE:
                    continue
                self.file_count += 1
                self._check(path.read_bytes(), f"file {path}")
            except OSError:
                continue
        self.seconds += time.perf_counter() - started

    # -- watching -----------------------------------------------------------------------------

    def install(self) -> None:
        os.environ[ENV_NAME] = self.env_value
        self._watch_capture()
        self._watch_subprocesses()
        self._watch_contexts()

    def uninstall(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        original = getattr(owner, name)
        setattr(owner, name, replacement)
        self._undo.append(lambda: setattr(owner, name, original))

    def _watch_capture(self) -> None:
        original = pytest.CaptureFixture.readouterr
        sweep = self

        def readouterr(fixture: Any) -> Any:
            result = original(fixture)
            sweep.check(result.out, "captured stdout")
            sweep.check(result.err, "captured stderr")
            return result

        self._patch(pytest.CaptureFixture, "readouterr", readouterr)

    def _watch_subprocesses(self) -> None:
        original = subprocess.Popen.communicate
        sweep = self

        def communicate(proc: Any, *args: Any, **kwargs: Any) -> Any:
            out, err = original(proc, *args, **kwargs)
            if not _called_from_tests():
                return out, err  # a program migrator runs (a `command` step) talks to it
            argv = proc.args if isinstance(proc.args, str) else " ".join(map(str, proc.args))
            shown = sweep.mask(argv)[:200]
            sweep.check(out, f"the stdout of `{shown}`")
            sweep.check(err, f"the stderr of `{shown}`")
            return out, err

        self._patch(subprocess.Popen, "communicate", communicate)

    def _watch_contexts(self) -> None:
        from migrator import api

        original = api.Context.__init__
        sweep = self

        def init(ctx: Any, *args: Any, **kwargs: Any) -> None:
            original(ctx, *args, **kwargs)
            ctx.out = Watched(ctx.out, sweep, "a Context's out")
            ctx.err = Watched(ctx.err, sweep, "a Context's err")

        self._patch(api.Context, "__init__", init)

    # -- pytest hooks -------------------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[None]:
        self.current = item.nodeid
        yield
        self.current = "(between tests)"

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
        outcome = yield
        report = outcome.get_result()
        if call.when == "teardown":  # its sections hold those of every phase
            for title, content in report.sections:
                self.check(content, title.lower())

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, items: list[pytest.Item]
    ) -> None:
        if items:
            items.append(SweepItem.from_parent(session, name="secrets sweep", sweep=self))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.write_line(
            f"secrets sweep: {self.texts} texts, {self.databases} databases and "
            f"{self.file_count} files searched in {self.seconds:.1f}s; "
            f"{len(self.found)} sighting(s)"
        )

    def pytest_unconfigure(self) -> None:
        self.uninstall()


TESTS = Path(__file__).resolve().parent


def _called_from_tests() -> bool:
    """Whether the code that waits on a subprocess is the tests' (not migrator's own)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename == subprocess.__file__:
        frame = frame.f_back  # type: ignore[assignment]
    return frame is not None and Path(frame.f_code.co_filename).is_relative_to(TESTS)


class Watched(io.TextIOBase):
    """A text stream that forwards everything to `inner` and shows it to the sweep."""

    def __init__(self, inner: Any, sweep: SecretsSweep, where: str) -> None:
        self.inner = inner
        self.sweep = sweep
        self.where = where

    def write(self, text: str) -> int:
        self.sweep.check(text, self.where)
        return int(self.inner.write(text))

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return bool(self.inner.isatty())

    def fileno(self) -> int:
        return int(self.inner.fileno())

    @property
    def encoding(self) -> Any:  # type: ignore[override]
        return getattr(self.inner, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class SecretsFound(Exception):
    pass


class SweepItem(pytest.Item):
    """The last test: reads the files the session left, then fails if any secret was seen."""

    def __init__(self, *, sweep: SecretsSweep, **kwargs: Any) -> None:
        super().__init__(nodeid="tests::secrets sweep", **kwargs)
        self.sweep = sweep

    def runtest(self) -> None:
        sweep = self.sweep
        sweep.current = "(end of session)"
        factory = getattr(self.config, "_tmp_path_factory", None)
        if factory is not None:
            sweep.check_tree(factory.getbasetemp())
        for path in sweep.files:
            if path.is_file():
                sweep.check(path.read_bytes(), f"file {path}")
        if sweep.found:
            raise SecretsFound("\n".join(sweep.found))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, SecretsFound):
            return (
                "a secret was found where it must never be (test: where: the line, masked):\n"
                + str(excinfo.value)
            )
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, "secrets sweep"


def sweep_of(config: pytest.Config) -> SecretsSweep | None:
    """The session's sweep (None when the plugin is not registered)."""
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    return plugin if isinstance(plugin, SecretsSweep) else None


def register(config: pytest.Config) -> SecretsSweep:
    """Install the sweep for this session (from conftest's `pytest_configure`)."""
    sweep = SecretsSweep(config)
    sweep.install()
    config.pluginmanager.register(sweep, PLUGIN_NAME)
    return sweep


def with_password(dsn: str, password: str) -> str:
    """`dsn` (a postgresql:// URL, as the embedded server gives) with `password` in it."""
    scheme, sep, rest = dsn.partition("://")
    userinfo, at, host = rest.partition("@")
    if not sep or not at:
        return dsn
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:{password}@{host}"
