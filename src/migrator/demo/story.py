"""`migrator demo`: the two incidents, told on the embedded PostgreSQL.

Each chapter runs the very command a person would type (printed before it runs, with
its real output), against database `migrator_demo` on the embedded server:

1. the demo database in IR-07's broken state, and the scoring app with users on it;
2. the symptom (finalizeAssessment refused by RLS) and `migrator audit rls`;
3. IR-07 applied; 4. IR-08 rebuilds the lost profiles;
5. scoring results: legacy -> dual_write (backfill) -> a cutover that fails on a broken
   parity and is undone -> the repaired cutover -> unified_only, with users scoring;
6. the way back to dual_write, counting that no session was lost;
7. a summary and the commands to look deeper.

The database stays until the next `migrator demo`; `--keep` leaves the app running too.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import psycopg

from migrator.db.target import redact
from migrator.demo import generate
from migrator.demo.lines import shell_lines, terminal_width, wrapped
from migrator.errors import ExitCode, MigratorError

DATABASE = "migrator_demo"
TRAFFIC = 5.0  # sessions finalized per second by the app's simulated users
PLAN_FILES = {
    "ir07": "ir-07-profiles-rls-hotfix.yaml",
    "ir08": "ir-08-backfill-profiles.yaml",
    "scoring": "scoring-results.yaml",
}


class DemoFailed(MigratorError):
    """A chapter of the demo did not end as the story says it must."""

    exit_code = ExitCode.CHECK_FAILED


def plan_path(name: str) -> Path:
    """A shipped plan: ./plans/NAME in a clone, else the copy in the installed package."""
    local = Path("plans") / name
    if local.is_file():
        return local
    return Path(str(resources.files("migrator.demo").joinpath("plans", name)))


@dataclass
class Story:
    out: TextIO
    run_cli: Callable[[list[str]], int]
    sessions: int = generate.DEFAULT_SESSIONS
    keep: bool = False
    dsn: str = ""
    app_url: str = ""
    app: subprocess.Popen[str] | None = None
    chapter_no: int = 0
    outcomes: list[tuple[str, str]] = field(default_factory=list)

    # -- telling --------------------------------------------------------------------

    @property
    def width(self) -> int:
        """The terminal's width, as the commands' output sees it (rich: COLUMNS, the
        terminal's size, else 80)."""
        return terminal_width(self.out)

    def chapter(self, title: str, text: str) -> None:
        self.chapter_no += 1
        self.out.write("\n" + wrapped(f"━━ {self.chapter_no}. {title}", self.width, "", "   "))
        self.out.write(wrapped(" ".join(text.split()), self.width, "   "))
        self.out.flush()

    def note(self, text: str, indent: str = "   ") -> None:
        self.out.write(wrapped(text, self.width, indent))
        self.out.flush()

    def command(self, argv: list[str], expect: int = 0) -> int:
        """Run `migrator ARGV` as a person would type it; stop the story on a surprise."""
        self.out.write("\n" + shell_lines(["$ migrator", *argv], self.width, ""))
        self.out.flush()
        code = self.run_cli(argv)
        self.out.flush()
        if code != expect:
            raise DemoFailed(
                f"`migrator {' '.join(argv)}` exited {code}, the story expected {expect}"
            )
        return code

    def query(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute(sql.encode(), params).fetchone()  # type: ignore[arg-type]
        return None if row is None else row[0]

    # -- the app --------------------------------------------------------------------

    def start_app(self, service_key: str) -> None:
        self.app = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "migrator.demo.app",
                "--dsn",
                self.dsn,
                "--traffic",
                str(TRAFFIC),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "SERVICE_ROLE_KEY": service_key},
            start_new_session=True,  # with --keep it outlives the demo
        )
        assert self.app.stdout is not None
        first = self.app.stdout.readline()
        if not first:
            raise DemoFailed("the scoring app did not start")
        self.app_url = json.loads(first)["url"]

    def stop_app(self) -> None:
        if self.app is not None and self.app.poll() is None:
            self.app.terminate()
            self.app.wait(10)

    def finalize(self, session_id: str, service_key: str) -> tuple[int, dict[str, Any]]:
        import httpx

        answer = httpx.post(
            f"{self.app_url}/functions/v1/finalizeAssessment",
            json={"session_id": session_id},
            headers={"Authorization": f"Bearer {service_key}"},
            timeout=10,
        )
        return answer.status_code, answer.json()

    # -- the story ------------------------------------------------------------------

    def tell(self, admin_dsn: str) -> int:
        started = time.monotonic()
        service_key = secrets.token_hex(16)
        os.environ["SERVICE_ROLE_KEY"] = service_key  # the plans read ${env:SERVICE_ROLE_KEY}
        try:
            self._broken_state(admin_dsn, service_key)
            self._ir07()
            self._ir08()
            self._scoring_results()
            self._way_back()
            self._summary(time.monotonic() - started)
        finally:
            if not self.keep:
                self.stop_app()
        return int(ExitCode.OK)

    def _broken_state(self, admin_dsn: str, service_key: str) -> None:
        self.chapter(
            "A scoring database in the IR-07 broken state",
            f"""Database {DATABASE} on the embedded PostgreSQL: Supabase-like roles and
            auth.*, the scoring schema, {self.sessions:,} assessment sessions.""",
        )
        self.dsn = generate.reset(admin_dsn, DATABASE)
        os.environ["MIGRATOR_DSN"] = self.dsn  # every command below works on it
        data = generate.load(self.dsn, self.sessions)
        self.note(
            f"{data.sessions:,} sessions, {data.completed:,} completed, "
            f"{data.profiles:,} profiles: {data.missing_profiles} completed sessions "
            "have no profile"
        )
        self.start_app(service_key)
        self.note(
            f"the scoring app answers on {self.app_url}; its users finish about "
            f"{TRAFFIC:g} assessments a second"
        )

        self.chapter(
            "The symptom, and its cause",
            """finalizeAssessment fails for every session. migrator audit rls finds why:
            profiles has row level security on and no policy.""",
        )
        status, body = self.finalize(generate.TEST_SESSION, service_key)
        self.note(f"POST /functions/v1/finalizeAssessment -> {status}:")
        self.note(str(body.get("error")), indent="     ")
        if status != 500:
            raise DemoFailed("finalizeAssessment was expected to fail before IR-07")
        self.command(["audit", "rls"], expect=1)  # exit 1: it found an error

    def _ir07(self) -> None:
        self.chapter(
            "IR-07: the hotfix",
            """Pre-checks confirm the broken state; Fix A creates the policy, Fix B and C
            are deploy steps (confirmed here by --yes); post-checks probe RLS, call
            finalizeAssessment for the incident's test session, and soak on the conversion.""",
        )
        ir07 = str(plan_path(PLAN_FILES["ir07"]))
        self.command(["apply", ir07, "--yes", "--var", f"app_url={self.app_url}"])
        self.outcomes.append(("IR-07 hotfix", "applied: profiles are written again"))

    def _ir08(self) -> None:
        self.chapter(
            "IR-08: rebuild the lost profiles",
            "Every completed session without a profile is scored again, in batches.",
        )
        missing = self._missing_profiles()
        self.command(["apply", str(plan_path(PLAN_FILES["ir08"]))])
        self.outcomes.append(("IR-08 backfill", f"{missing} profiles rebuilt"))

    def _missing_profiles(self) -> int:
        return int(
            self.query(
                "select count(*) from assessment_sessions s where s.status = 'completed' "
                "and not exists (select 1 from profiles p where p.session_id = s.id)"
            )
        )

    def _scoring_results(self) -> None:
        scoring = str(plan_path(PLAN_FILES["scoring"]))
        app = ["--var", f"app_url={self.app_url}"]
        self.chapter(
            "Scoring results: legacy -> dual_write",
            """The unified table is created, the app writes both sides, and the backfill
            rebuilds every historical session's payload.""",
        )
        self.command(["apply", scoring, "--to", "dual_write", *app])
        self.command(["status", scoring])

        self.chapter(
            "A cutover that must not happen",
            """A legacy write bug is simulated: one session's confidence drifts. The
            cutover flips the flags, the parity check finds the difference, and what the
            run did is undone: the plan stays in dual_write, exit code 1.""",
        )
        drifted = self.query(
            "update profiles set confidence = round(confidence / 2, 3) "
            "where id = (select min(id) from profiles) returning session_id"
        )
        self.note(f"session {drifted}: legacy confidence halved")
        self.command(["apply", scoring, "--to", "unified_only", "--yes", *app], expect=1)
        self.outcomes.append(("cutover with a broken parity", "failed, undone automatically"))

        self.chapter(
            "The repaired cutover: dual_write -> unified_only",
            "The drifted row is repaired from its unified payload; the cutover goes through.",
        )
        self.query(
            "update profiles p set confidence = cast(r.payload #>> '{profile,confidence}' "
            "as numeric) from scoring_results r where r.session_id = p.session_id "
            "and p.session_id = %(id)s returning p.session_id",
            {"id": drifted},
        )
        self.command(["apply", scoring, "--to", "unified_only", "--yes", *app])
        self.outcomes.append(("scoring results", "legacy -> dual_write -> unified_only"))

    def _way_back(self) -> None:
        scoring = str(plan_path(PLAN_FILES["scoring"]))
        self.chapter(
            "The way back: unified_only -> dual_write, nothing lost",
            """Users kept finishing assessments while unified-only: their sessions have
            no legacy rows. The rollback re-enables exploded writes, writes those sessions
            back into the legacy tables, then reads legacy again.""",
        )
        time.sleep(2)  # a few more sessions scored unified-only
        lacking = (
            self.query(
                "select array_agg(r.session_id) from scoring_results r where not exists "
                "(select 1 from profiles p where p.session_id = r.session_id)"
            )
            or []
        )
        self.note(f"{len(lacking)} sessions scored while unified-only have no legacy rows")
        self.command(["rollback", scoring, "--var", f"app_url={self.app_url}"])
        restored = self.query(
            "select count(*) from profiles p where p.session_id = any(%(ids)s) "
            "and (select count(*) from scoring_results_types t "
            "     where t.session_id = p.session_id) = 16 "
            "and (select count(*) from scoring_results_functions f "
            "     where f.session_id = p.session_id) = 8",
            {"ids": lacking},
        )
        self.note(f"{restored} of {len(lacking)} have complete legacy rows now")
        if restored != len(lacking):
            raise DemoFailed(f"{len(lacking) - restored} sessions lost their legacy rows")
        self.outcomes.append(
            ("rollback to dual_write", f"{restored} unified-only sessions written back")
        )

    def _summary(self, seconds: float) -> None:
        self.chapter("What happened", f"The whole story took {seconds:.0f}s.")
        for what, outcome in self.outcomes:
            self.note(f"{what:<30} {outcome}")
        scoring = str(plan_path(PLAN_FILES["scoring"]))
        shown = redact(self.dsn)
        self.out.write("\n")
        self.note("Look deeper (the database stays until the next `migrator demo`):")
        if shown != self.dsn:
            self.note("# the password is not shown: put it in", indent="     ")
        # a DSN of key=value pairs may be broken between them: libpq reads any white
        # space, a new line too, as their separator (a URL has no space: it stays whole)
        self.out.write(wrapped(f"export MIGRATOR_DSN='{shown}'", self.width, "     ", "       "))
        for argv in (
            ["status", scoring],
            ["history", scoring],
            ["history", str(plan_path(PLAN_FILES["ir07"]))],
            ["report", "RUN", "       # one run's evidence (RUN from history)"],
            ["graph", scoring],
        ):
            self.out.write(shell_lines(["migrator", *argv], self.width, "     "))
        if self.keep and self.app is not None:
            self.out.write("\n")
            self.note(
                f"The scoring app keeps running on {self.app_url} "
                f"(pid {self.app.pid}; stop it with `kill {self.app.pid}`)."
            )
        self.out.flush()


def run_demo(
    out: TextIO,
    run_cli: Callable[[list[str]], int],
    *,
    sessions: int = generate.DEFAULT_SESSIONS,
    keep: bool = False,
    admin_dsn: str | None = None,
) -> int:
    """Tell the story on `admin_dsn`'s server (default: the embedded PostgreSQL)."""
    if admin_dsn is not None:
        return _told(Story(out, run_cli, sessions=sessions, keep=keep), admin_dsn)
    from migrator.db.target import EMBEDDED_DIR, embedded_dsn

    def announce(line: str) -> None:
        from migrator.demo.lines import terminal_width, wrapped

        out.write(wrapped(line, terminal_width(out), ""))

    admin_dsn = embedded_dsn(Path.cwd() / EMBEDDED_DIR, announce)
    code = _told(Story(out, run_cli, sessions=sessions, keep=keep), admin_dsn)
    out.write("\n")
    out.write(
        wrapped(
            "The embedded PostgreSQL keeps running for them: `migrator server status` "
            "shows it, `migrator server stop` stops it.",
            terminal_width(out),
            "   ",
        )
    )
    return code


def _told(story: Story, admin_dsn: str) -> int:
    """The story told; a server that cannot be reached, or went away mid-story (stopped,
    crashed), is exit 5."""
    from migrator.db.failures import error_text, is_connection_lost
    from migrator.errors import DatabaseUnreachable

    try:
        return story.tell(admin_dsn)
    except Exception as exc:
        if not is_connection_lost(exc):
            raise
        said = error_text(exc).splitlines()[0]
        raise DatabaseUnreachable("the demo's PostgreSQL", f"it is gone: {said}") from None
