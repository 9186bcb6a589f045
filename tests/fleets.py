"""A fleet of real databases for the fleet tests: one fresh database per target on the
test server, and a fleet file naming them.

The fleet file never holds a DSN: each target's is in an environment variable
(`FLEET_DSN_<NAME>`, set for the test and inherited by every process it starts) and the
file reads it as `${env:FLEET_DSN_<NAME>}`, as a real fleet file keeps its passwords out
(the secrets sweep searches every file a test leaves).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import secrets_sweep


def env_name(target: str) -> str:
    """The environment variable holding `target`'s DSN."""
    return "FLEET_DSN_" + "".join(c if c.isalnum() else "_" for c in target).upper()


@dataclass
class FleetDatabases:
    """Databases made for one test, by target name; dropped (after the sweep) at its end."""

    admin_dsn: str
    folder: Path
    monkeypatch: pytest.MonkeyPatch
    stack: ExitStack
    dsns: dict[str, str] = field(default_factory=dict)

    def add(self, *names: str) -> list[str]:
        """A fresh database for each name; their DSNs (also in `FLEET_DSN_<NAME>`)."""
        from migrator.testing import fresh_database

        made = []
        for name in names:
            dsn = self.stack.enter_context(fresh_database(self.admin_dsn, prefix="fleet"))
            self.dsns[name] = dsn
            self.monkeypatch.setenv(env_name(name), dsn)
            made.append(dsn)
        return made

    def write(
        self,
        targets: dict[str, str | None],
        waves: str = "  - {name: all, parallel: 1}\n",
        extra: str = "",
        name: str = "fleet.yaml",
        fleet: str = "tenants",
    ) -> Path:
        """A fleet file of `targets` ({name: group or None}; databases made for those not
        made yet), the `waves:` list's YAML lines, and `extra` top-level YAML."""
        self.add(*(t for t in targets if t not in self.dsns))
        lines = [f"fleet: {fleet}", "targets:"]
        for target, group in targets.items():
            grouped = f", group: {group}" if group else ""
            lines.append(f'  - {{name: {target}, dsn: "${{env:{env_name(target)}}}"{grouped}}}')
        text = "\n".join(lines) + "\nwaves:\n" + waves + extra
        path = self.folder / name
        path.write_text(text, encoding="utf-8")
        return path

    def sql(self, target: str, query: str) -> list[tuple[object, ...]]:
        """Rows of `query` on `target`'s database."""
        import psycopg

        with psycopg.connect(self.dsns[target], autocommit=True) as conn:
            return conn.execute(query).fetchall()  # type: ignore[arg-type]

    def phase(self, target: str, plan: str) -> str | None:
        """`plan`'s phase on `target` as its `migrator.plan_state` says (None: never run)."""
        import psycopg

        with psycopg.connect(self.dsns[target], autocommit=True) as conn:
            exists = conn.execute("select to_regclass('migrator.plan_state')").fetchone()
            if exists is None or exists[0] is None:
                return None
            row = conn.execute(
                "select phase from migrator.plan_state where plan = %s", (plan,)
            ).fetchone()
            return None if row is None else str(row[0])


@pytest.fixture
def fleet_databases(
    admin_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[FleetDatabases]:
    """`fleet_databases.write({"internal": "canary", "acme": None, ...})`: a fleet file
    in the test's folder over fresh databases; swept for secrets and dropped at the end."""
    with ExitStack() as stack:
        made = FleetDatabases(admin_dsn, tmp_path, monkeypatch, stack)
        yield made
        sweep = secrets_sweep.sweep_of(request.config)
        if sweep is not None:
            for dsn in made.dsns.values():
                sweep.check_database(dsn)


def fleet_env() -> dict[str, str]:
    """The environment a `migrator fleet` process needs: this one (the DSN variables)."""
    return dict(os.environ)
