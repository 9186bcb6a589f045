"""The fleet file read with every error at its place, its targets placed in waves, their
DSNs' secrets masked, the fleet's exit code, and a wave run `parallel` at a time (our own
executor, driven by an attempt function that waits on gates: no database here)."""

from __future__ import annotations

import re
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from migrator.errors import ExitCode, PlanError, UsageError
from migrator.fleet.model import Retry, WaveSpec, load_fleet
from migrator.fleet.rollout import Halt, fleet_exit_code, run_wave
from migrator.fleet.targets import FleetTarget, resolve_targets
from migrator.masking import Secrets

HEAD = "fleet: tenants\ntargets:\n  - {name: acme, dsn: 'postgresql://u@h/acme'}\n"


def write(tmp_path: Path, text: str, name: str = "fleet.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    """The one message `load_fleet` raises (exit 2), the folder taken out."""
    with pytest.raises(PlanError) as raised:
        load_fleet(path)
    assert raised.value.exit_code == ExitCode.INVALID
    return str(raised.value).replace(str(path.parent) + "/", "")


ERRORS = {
    "unknown key": (HEAD + "retries: 3\n", "fleet.yaml:4:1: retries: unknown key 'retries'"),
    "unknown key of a target": (
        "fleet: t\ntargets:\n  - {name: a, dsn: x, region: eu}\n",
        "fleet.yaml:3:23: targets[0].region: unknown key 'region'",
    ),
    "missing field": (
        "fleet: t\ntargets:\n  - {name: a}\n",
        "fleet.yaml:3:5: targets[0]: missing required field 'dsn'",
    ),
    "missing fleet": (
        "targets:\n  - {name: a, dsn: x}\n",
        "fleet.yaml:1:1: missing required field 'fleet'",
    ),
    "bad target name": (
        "fleet: t\ntargets:\n  - {name: 'a b', dsn: x}\n",
        "fleet.yaml:3:12: targets[0].name: a name is 1 to 63 letters, digits, '_', '.' or "
        "'-', starting with a letter or a digit",
    ),
    "bad fleet name": (
        "fleet: ../up\ntargets:\n  - {name: a, dsn: x}\n",
        "fleet.yaml:1:8: fleet: a name is 1 to 63 letters",
    ),
    "duplicate target": (
        "fleet: t\ntargets:\n  - {name: a, dsn: x}\n  - {name: b, dsn: x}\n  - {name: a, dsn: y}\n",
        "fleet.yaml:5:12: targets[2].name: two targets are named 'a'",
    ),
    "duplicate wave": (
        HEAD + "waves:\n  - {name: w, parallel: 2}\n  - {name: v}\n  - {name: w}\n",
        "fleet.yaml:7:12: waves[2].name: two waves are named 'w'",
    ),
    "parallel 0": (
        HEAD + "waves:\n  - {name: w, parallel: 0}\n",
        "fleet.yaml:5:25: waves[0].parallel: must be greater than or equal to 1",
    ),
    "negative max_failures": (
        HEAD + "waves:\n  - {name: w, max_failures: -1}\n",
        "fleet.yaml:5:29: waves[0].max_failures: must be greater than or equal to 0",
    ),
    "bad duration": (
        HEAD + "waves:\n  - {name: w, bake: soon}\n",
        "fleet.yaml:5:21: waves[0].bake: 'soon' is not a duration",
    ),
    "bad retry backoff": (
        HEAD + "retry: {backoff: later}\n",
        "fleet.yaml:4:18: retry.backoff: 'later' is not a duration",
    ),
    "targets a string": (
        "fleet: t\ntargets: everyone\n",
        "fleet.yaml:2:10: targets: targets is a list of {name, dsn[, group][, vars]}, or "
        "{query: SQL, dsn: DSN}, or {file: PATH}",
    ),
    "targets a mapping of neither": (
        "fleet: t\ntargets: {sql: select 1}\n",
        "fleet.yaml:2:10: targets: targets is a list of",
    ),
    "targets query without its dsn": (
        "fleet: t\ntargets: {query: select 1}\n",
        "fleet.yaml:2:1: targets: missing required field 'dsn'",
    ),
    "targets file with another key": (
        "fleet: t\ntargets: {file: t.yaml, dsn: x}\n",
        "fleet.yaml:2:25: targets.dsn: unknown key 'dsn'",
    ),
    "match with neither group nor name": (
        HEAD + "waves:\n  - {name: w, match: {}}\n",
        "fleet.yaml:5:22: waves[0].match: match names a group or a name; leave match out "
        "to take every target",
    ),
    "match of an unknown key": (
        HEAD + "waves:\n  - {name: w, match: {region: eu}}\n",
        "fleet.yaml:5:23: waves[0].match.region: unknown key 'region'",
    ),
    "ledger a path, not a DSN": (
        HEAD + "ledger: fleet.ledger.json\n",
        "fleet.yaml:4:9: ledger: ledger is the DSN of a database",
    ),
    "not a mapping": ("- fleet: t\n", "fleet.yaml:1:1: a fleet file is a mapping"),
    "empty": ("# nothing yet\n", "fleet.yaml:1:1: the fleet file is empty"),
    "yaml syntax": ("fleet: t\ntargets: [\n", "fleet.yaml:3:1: YAML syntax error"),
}


@pytest.mark.parametrize("case", ERRORS, ids=list(ERRORS))
def test_every_error_of_a_fleet_file_is_at_its_place(tmp_path: Path, case: str) -> None:
    text, expected = ERRORS[case]
    assert error_of(write(tmp_path, text)).startswith(expected)


def test_a_fleet_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_bytes(b"fleet: t\ntargets: \xff\xfe\n")
    assert error_of(path).startswith("fleet.yaml:1:1: the fleet file is not UTF-8 text")


def test_a_fleet_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    missing = error_of(tmp_path / "nowhere.yaml")
    assert missing == "nowhere.yaml:1:1: cannot read the fleet file: No such file or directory"
    (tmp_path / "folder.yaml").mkdir()
    assert error_of(tmp_path / "folder.yaml").startswith("folder.yaml:1:1: cannot read the fleet")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = "fleet: t\ntargets:\n  - {name: a}\nwaves:\n  - {name: w, parallel: 0}\nextra: 1\n"
    assert error_of(write(tmp_path, text)).splitlines() == [
        "fleet.yaml:3:5: targets[0]: missing required field 'dsn'",
        "fleet.yaml:5:25: waves[0].parallel: must be greater than or equal to 1",
        "fleet.yaml:6:1: extra: unknown key 'extra'",
    ]


def test_the_defaults_one_wave_all_and_a_retry_of_three(tmp_path: Path) -> None:
    fleet = load_fleet(write(tmp_path, HEAD))
    assert [
        (w.name, w.match, w.parallel, w.max_failures, w.bake, w.approval) for w in fleet.waves
    ] == [("all", None, 1, 0, None, False)]
    retry = fleet.spec.retry
    assert (retry.attempts, retry.backoff, retry.longest) == (3, 5.0, 60.0)
    assert fleet.spec.timeout == 10.0
    assert fleet.spec.ledger is None
    assert fleet.name == "tenants"


def test_durations_and_vars_as_they_read(tmp_path: Path) -> None:
    text = (
        "fleet: t\ntargets:\n  - {name: a, dsn: x, vars: {shards: 4, dry: true, ratio: 0.5}}\n"
        "waves:\n  - {name: w, bake: 10m, approval: true}\nretry: {backoff: 250ms, longest: 1h}\n"
        "timeout: 3s\n"
    )
    fleet = load_fleet(write(tmp_path, text))
    assert fleet.waves[0].bake == 600.0 and fleet.waves[0].approval is True
    assert (fleet.spec.retry.backoff, fleet.spec.retry.longest) == (0.25, 3600.0)
    assert fleet.spec.timeout == 3.0
    targets = resolve_targets(fleet, Secrets())
    assert targets[0].vars == {"shards": "4", "dry": "true", "ratio": "0.5"}


# -- waves ---------------------------------------------------------------------------------

WAVES = """\
fleet: t
targets:
  - {name: eu-1, dsn: x}
  - {name: us-1, dsn: x, group: canary}
  - {name: eu-2, dsn: x, group: big}
  - {name: ap-1, dsn: x}
  - {name: internal, dsn: x, group: staff}
  - {name: us-2, dsn: x, group: big}
waves:
  - {name: canary, match: {group: [canary, staff]}}
  - {name: eu, match: {name: 'eu-*'}}
  - {name: big-us, match: {group: big, name: ['us-?', zz]}}
  - {name: rest}
"""


def waves_of(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    return [(t.wave, t.name) for t in resolve_targets(load_fleet(write(tmp_path, text)), Secrets())]


def test_a_target_joins_the_first_wave_that_matches_it(tmp_path: Path) -> None:
    assert waves_of(tmp_path, WAVES) == [
        ("canary", "us-1"),  # a list of groups
        ("canary", "internal"),
        ("eu", "eu-1"),  # a name pattern
        ("eu", "eu-2"),  # group big, but eu matched first
        ("big-us", "us-2"),  # group and name both
        ("rest", "ap-1"),  # a wave without match takes every other target
    ]


def test_a_target_no_wave_matches_is_named(tmp_path: Path) -> None:
    text = WAVES.replace("  - {name: rest}\n", "")
    with pytest.raises(UsageError) as raised:
        waves_of(tmp_path, text)
    assert raised.value.exit_code == ExitCode.INVALID
    assert "target ap-1 (group none) matches no wave of fleet t" in str(raised.value)


def test_patterns_match_case_and_whole_names(tmp_path: Path) -> None:
    text = (
        "fleet: t\ntargets:\n  - {name: EU-1, dsn: x}\n  - {name: xeu-1, dsn: x}\n"
        "waves:\n  - {name: eu, match: {name: 'eu-*'}}\n  - {name: rest}\n"
    )
    assert waves_of(tmp_path, text) == [("rest", "EU-1"), ("rest", "xeu-1")]


# -- DSNs and secrets ----------------------------------------------------------------------


def test_env_dsns_are_read_and_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_T_DSN", "postgresql://app:hunter2secret@db.example/acme")
    monkeypatch.setenv("FLEET_T_PASSWORD", "s3cr3t-value")
    text = (
        "fleet: t\ntargets:\n  - {name: acme, dsn: '${env:FLEET_T_DSN}'}\n"
        "  - {name: beta, dsn: 'postgresql://app:${env:FLEET_T_PASSWORD}@db/beta'}\n"
        "  - {name: gamma, dsn: 'postgresql://app:inline-pass@db/gamma'}\n"
    )
    secrets = Secrets()
    acme, beta, gamma = resolve_targets(load_fleet(write(tmp_path, text)), secrets)
    assert acme.dsn == "postgresql://app:hunter2secret@db.example/acme"
    assert beta.dsn == "postgresql://app:s3cr3t-value@db/beta"
    shown = secrets.mask(f"{acme.dsn} {beta.dsn} {gamma.dsn}")
    assert "hunter2secret" not in shown and "s3cr3t-value" not in shown
    assert "inline-pass" not in shown  # a password written in the file is masked too
    assert "hunter2secret" not in repr(acme) and "db.example" not in repr(acme)
    assert "hunter2secret" not in acme.shown_dsn


def test_an_unset_env_is_named_without_the_dsn(tmp_path: Path) -> None:
    text = (
        "fleet: t\ntargets:\n  - {name: acme, dsn: 'postgresql://app:${env:FLEET_T_UNSET}@db9/x'}\n"
    )
    with pytest.raises(UsageError) as raised:
        resolve_targets(load_fleet(write(tmp_path, text)), Secrets())
    message = str(raised.value)
    assert raised.value.exit_code == ExitCode.INVALID
    assert "target acme" in message and "FLEET_T_UNSET" in message
    assert "postgresql" not in message and "db9" not in message and "app:" not in message


# -- a targets file ------------------------------------------------------------------------


def test_a_targets_file_is_read_relative_to_the_fleet_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "- {name: a, dsn: x, group: canary}\n- {name: b, dsn: y}\n", "lists/t.yaml")
    fleet = write(tmp_path, "fleet: t\ntargets: {file: ../lists/t.yaml}\n", "fleets/f.yaml")
    monkeypatch.chdir(tmp_path / "lists")  # not the fleet file's folder
    targets = resolve_targets(load_fleet(fleet), Secrets())
    assert [(t.name, t.group, t.wave) for t in targets] == [
        ("a", "canary", "all"),
        ("b", None, "all"),
    ]


TARGETS_FILE_ERRORS = {
    "unknown key": (
        "- {name: a, dsn: x}\n- {name: b, dns: y}\n",
        "t.yaml:2:3: [1]: missing required field 'dsn'\nt.yaml:2:13: [1].dns: unknown key 'dns'",
    ),
    "duplicate": (
        "- {name: a, dsn: x}\n- {name: a, dsn: y}\n",
        "t.yaml:2:10: [1].name: two targets are named 'a'",
    ),
    "not a list": ("a: {dsn: x}\n", "t.yaml:1:1: must be a valid list"),
    "empty": ("\n", "t.yaml:1:1: the targets file is empty"),
}


@pytest.mark.parametrize("case", TARGETS_FILE_ERRORS, ids=list(TARGETS_FILE_ERRORS))
def test_errors_of_a_targets_file_point_into_it(tmp_path: Path, case: str) -> None:
    text, expected = TARGETS_FILE_ERRORS[case]
    write(tmp_path, text, "lists/t.yaml")
    fleet = load_fleet(write(tmp_path, "fleet: t\ntargets: {file: lists/t.yaml}\n"))
    with pytest.raises(PlanError) as raised:
        resolve_targets(fleet, Secrets())
    assert str(raised.value).replace(str(tmp_path) + "/lists/", "") == expected


def test_a_missing_targets_file_is_named(tmp_path: Path) -> None:
    fleet = load_fleet(write(tmp_path, "fleet: t\ntargets: {file: gone.yaml}\n"))
    with pytest.raises(PlanError) as raised:
        resolve_targets(fleet, Secrets())
    assert (
        str(raised.value)
        == f"{tmp_path}/gone.yaml:1:1: cannot read the targets file: No such file or directory"
    )


# -- the fleet's exit code -----------------------------------------------------------------

EXIT_CODES = [
    ([0, 0, 0], 0),
    ([], 0),
    ([0, None, 0], 0),  # a target not started counts as nothing
    ([4, 5, 2, 1, 6, 3], 3),
    ([4, 5, 2, 1, 6], 6),
    ([4, 5, 2, 1, 0], 1),
    ([4, 5, 2, 0], 2),
    ([4, 5, 0], 5),
    ([4, 0], 4),
    ([0, 130], 130),  # stopped: never 0 with a run left interrupted
    ([1, 130], 1),
    ([0, -9], 6),  # killed by SIGKILL (the OOM killer): not a success
    ([1, -9], 6),
    ([0, -2], 130),
    ([0, 77], 6),
]


@pytest.mark.parametrize(("codes", "expected"), EXIT_CODES)
def test_the_fleet_exit_code_is_the_most_serious(codes: list[int | None], expected: int) -> None:
    assert fleet_exit_code(codes) == expected


# -- a wave, run by our own executor -------------------------------------------------------

WAIT = 30.0  # a bound on each wait for a gate, never reached when the code is right


def targets(*names: str) -> list[FleetTarget]:
    return [FleetTarget(name, f"postgresql:///{name}", None, {}, "w") for name in names]


def wave(parallel: int = 1, max_failures: int = 0) -> WaveSpec:
    return WaveSpec(name="w", parallel=parallel, max_failures=max_failures)


TINY = Retry(attempts=3, backoff=0.001, longest=0.004)


class Gates:
    """An attempt function whose every attempt waits for the test to open its gate, and
    records how many attempts run at once."""

    def __init__(self, codes: dict[str, list[int]] | None = None) -> None:
        self.codes = codes or {}
        self.gates: dict[str, threading.Event] = {}
        self.started: list[str] = []
        self.running = 0
        self.most = 0
        self.changed = threading.Condition()

    def gate(self, name: str) -> threading.Event:
        with self.changed:
            return self.gates.setdefault(name, threading.Event())

    def __call__(self, target: FleetTarget, number: int) -> int:
        with self.changed:
            self.running += 1
            self.most = max(self.most, self.running)
            self.started.append(target.name)
            self.changed.notify_all()
        try:
            assert self.gate(target.name).wait(WAIT), f"{target.name}'s gate never opened"
            codes = self.codes.get(target.name, [0])
            return codes[min(number, len(codes)) - 1]
        finally:
            with self.changed:
                self.running -= 1
                self.changed.notify_all()

    def wait_for(self, condition: Callable[[], bool]) -> None:
        with self.changed:
            assert self.changed.wait_for(condition, WAIT)


def in_background(run: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(run()), daemon=True)
    thread.start()
    return thread, result


def test_a_wave_runs_parallel_at_a_time_in_order(tmp_path: Path) -> None:
    gates = Gates()
    names = ["a", "b", "c", "d", "e"]
    halt = Halt()
    thread, result = in_background(
        lambda: run_wave(wave(parallel=2), targets(*names), gates, retry=TINY, halt=halt)
    )
    gates.wait_for(lambda: gates.running == 2)
    assert gates.started == ["a", "b"]
    for opened, name in enumerate(names, 1):
        gates.gate(name).set()
        gates.wait_for(lambda: len(gates.started) == min(opened + 2, 5))  # noqa: B023
    thread.join(WAIT)
    assert not thread.is_alive()
    assert gates.most == 2  # two at a time, and never more
    assert gates.started == names
    (outcomes,) = result
    assert [(o.target.name, o.code, o.attempts) for o in outcomes] == [  # type: ignore[attr-defined]
        (n, 0, 1) for n in names
    ]
    assert not halt.halted


def test_exit_4_and_5_are_retried_with_a_doubling_wait() -> None:
    gates = Gates({"a": [5, 4, 5, 0], "b": [4]})
    for name in ("a", "b"):
        gates.gate(name).set()
    waits: list[tuple[str, int, float]] = []
    outcomes = run_wave(
        wave(parallel=1),
        targets("a", "b"),
        gates,
        retry=Retry(attempts=3, backoff=0.001, longest=0.003),
        halt=Halt(),
        on_retry=lambda t, code, delay: waits.append((t.name, code, delay)),
    )
    assert [(o.code, o.attempts) for o in outcomes] == [(0, 4), (4, 4)]  # 1 + 3 retries
    assert waits == [
        ("a", 5, 0.001),
        ("a", 4, 0.002),
        ("a", 5, 0.003),  # doubled, up to `longest`
        ("b", 4, 0.001),
        ("b", 4, 0.002),
        ("b", 4, 0.003),
    ]


def test_no_retry_with_attempts_0_and_none_for_a_failure() -> None:
    gates = Gates({"a": [5, 0], "b": [1, 0]})
    for name in ("a", "b"):
        gates.gate(name).set()
    outcomes = run_wave(
        wave(max_failures=5),
        targets("a", "b"),
        gates,
        retry=Retry(attempts=0, backoff=0.001),
        halt=Halt(),
    )
    assert [(o.code, o.attempts) for o in outcomes] == [(5, 1), (1, 1)]


def test_past_max_failures_those_started_finish_and_none_starts() -> None:
    gates = Gates({"a": [1], "b": [0], "c": [3]})
    halt = Halt()
    ended: list[str] = []
    thread, result = in_background(
        lambda: run_wave(
            wave(parallel=2, max_failures=0),
            targets("a", "b", "c", "d"),
            gates,
            retry=TINY,
            halt=halt,
            on_end=lambda o: ended.append(o.target.name),
        )
    )
    gates.wait_for(lambda: gates.started == ["a", "b"])
    gates.gate("a").set()  # a fails while b is under way
    gates.wait_for(lambda: gates.running == 1)
    gates.gate("b").set()
    thread.join(WAIT)
    assert not thread.is_alive()
    (outcomes,) = result
    assert [(o.code, o.attempts) for o in outcomes] == [  # type: ignore[attr-defined]
        (1, 1),
        (0, 1),  # under way: it finished
        (None, 0),  # none started after
        (None, 0),
    ]
    assert ended == ["a", "b"]
    assert halt.failures_exceeded and not halt.stop.is_set()
    assert halt.reason == "wave w: 1 target(s) failed, more than its max_failures (0)"


def test_failures_up_to_max_failures_go_on() -> None:
    gates = Gates({"a": [1], "b": [6], "c": [2], "d": [0]})
    for name in "abcd":
        gates.gate(name).set()
    halt = Halt()
    outcomes = run_wave(wave(max_failures=2), targets(*"abcd"), gates, retry=TINY, halt=halt)
    assert [o.code for o in outcomes] == [1, 6, 2, None]  # the third failure halts
    assert halt.failures_exceeded


def test_a_process_killed_by_a_signal_counts_as_a_failure() -> None:
    gates = Gates({"a": [-9]})
    for name in "ab":
        gates.gate(name).set()
    halt = Halt()
    outcomes = run_wave(wave(), targets("a", "b"), gates, retry=TINY, halt=halt)
    assert [o.code for o in outcomes] == [-9, None]
    assert halt.failures_exceeded


def test_a_stop_ends_a_backoff_wait() -> None:
    gates = Gates({"a": [5]})
    gates.gate("a").set()
    halt = Halt()
    waiting = threading.Event()
    thread, result = in_background(
        lambda: run_wave(
            wave(),
            targets("a", "b"),
            gates,
            retry=Retry(attempts=3, backoff=3600.0),
            halt=halt,
            on_retry=lambda *_: waiting.set(),
        )
    )
    assert waiting.wait(WAIT)
    halt.request_stop("Ctrl-C")
    thread.join(WAIT)
    assert not thread.is_alive()  # an hour's wait ended by the stop
    (outcomes,) = result
    assert [(o.code, o.attempts) for o in outcomes] == [(5, 1), (None, 0)]  # type: ignore[attr-defined]
    assert halt.reason == "Ctrl-C"


def test_past_max_failures_a_target_waiting_to_retry_does_not_try_again() -> None:
    """A target in its retry's wait when the failures pass `max_failures`: the wait ends
    at once and no new attempt starts (a retry is a start too)."""
    gates = Gates({"a": [4, 0], "b": [1]})
    gates.gate("a").set()
    halt = Halt()
    waiting = threading.Event()
    thread, result = in_background(
        lambda: run_wave(
            wave(parallel=2, max_failures=0),
            targets("a", "b"),
            gates,
            retry=Retry(attempts=3, backoff=3600.0),
            halt=halt,
            on_retry=lambda *_: waiting.set(),
        )
    )
    assert waiting.wait(WAIT)  # a is waiting an hour to try again
    gates.gate("b").set()  # b fails: past max_failures
    thread.join(WAIT)
    assert not thread.is_alive()  # the hour's wait ended by the halt
    (outcomes,) = result
    assert [(o.code, o.attempts) for o in outcomes] == [(4, 1), (1, 1)]  # type: ignore[attr-defined]
    assert gates.started.count("a") == 1
    assert halt.failures_exceeded and not halt.stop.is_set()


def test_an_attempt_that_did_not_start_keeps_the_last_code() -> None:
    """An attempt that returns None (the rollout halted before it started) is no attempt:
    the first leaves the target never started, a retry leaves the code before it."""
    calls: list[int] = []

    def attempt(target: FleetTarget, number: int) -> int | None:
        calls.append(number)
        return 5 if number == 1 else None

    outcomes = run_wave(wave(), targets("a"), attempt, retry=TINY, halt=Halt())
    assert [(o.code, o.attempts) for o in outcomes] == [(5, 1)] and calls == [1, 2]
    outcomes = run_wave(wave(), targets("a"), lambda t, n: None, retry=TINY, halt=Halt())
    assert [(o.code, o.attempts) for o in outcomes] == [(None, 0)]


@pytest.mark.parametrize("code", [130, 143, -2])
def test_a_target_stopped_by_a_signal_halts_the_rollout(code: int) -> None:
    gates = Gates({"a": [code]})
    for name in "ab":
        gates.gate(name).set()
    halt = Halt()
    outcomes = run_wave(wave(max_failures=9), targets("a", "b"), gates, retry=TINY, halt=halt)
    assert [o.code for o in outcomes] == [code, None]
    assert halt.stop.is_set() and not halt.failures_exceeded
    assert halt.reason == "target a was stopped by a signal"


def test_a_halted_rollout_starts_nothing() -> None:
    gates = Gates()
    halt = Halt()
    halt.request_stop("stopped before")
    outcomes = run_wave(wave(parallel=4), targets("a", "b"), gates, retry=TINY, halt=halt)
    assert [(o.code, o.attempts) for o in outcomes] == [(None, 0), (None, 0)]
    assert gates.started == []


def test_an_attempt_that_raises_starts_nothing_more() -> None:
    """A bug in the attempt (or its ledger failing) is raised, and no target starts after
    it: the rest of the queue is not run behind the error's back."""
    started: list[str] = []

    def attempt(target: FleetTarget, number: int) -> int:
        started.append(target.name)
        if target.name == "a":
            raise RuntimeError("the ledger's disk is full")
        return 0

    halt = Halt()
    with pytest.raises(RuntimeError, match="disk is full"):
        run_wave(wave(), targets("a", "b", "c"), attempt, retry=TINY, halt=halt)
    assert started == ["a"]
    assert halt.stop.is_set() and halt.reason == "target a: RuntimeError"


# -- docs/fleets.md, kept true ---------------------------------------------------------------

CHAPTER = Path(__file__).resolve().parents[2] / "docs" / "fleets.md"


def chapter_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", CHAPTER.read_text(encoding="utf-8"), re.S)


def test_the_chapters_fleet_files_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleets = [b for b in chapter_blocks("yaml") if b.startswith("# fleet.yaml\n")]
    assert len(fleets) == 2
    for name in ("INTERNAL_DSN", "EU_ACME_DSN", "EU_GLOBEX_DSN", "US_INITECH_DSN"):
        monkeypatch.setenv(name, f"postgresql://app:pw-of-{name}@db/x")
    listed = load_fleet(write(tmp_path, fleets[0]))
    assert [(t.wave, t.name, t.vars["owner"]) for t in resolve_targets(listed, Secrets())] == [
        ("canary", "internal", "staff"),
        ("eu", "eu-acme", "acme"),
        ("eu", "eu-globex", "globex"),
        ("rest", "us-initech", "initech"),
        ("rest", "us-umbrella", "umbrella"),
    ]
    assert listed.waves[0].bake == 600.0 and listed.waves[1].approval
    queried = load_fleet(write(tmp_path, fleets[1], "queried.yaml"))
    assert queried.spec.ledger == "${env:CONTROL_DSN}"


def test_the_chapters_errors_are_what_migrator_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = next(b for b in chapter_blocks("yaml") if b.startswith("# fleet.yaml\n"))
    errors, unset = chapter_blocks("text")[:2]
    broken = fleet.replace("parallel: 4, approval", "parallel: 0, approval") + "retries: 3\n"
    assert error_of(write(tmp_path, broken)) == errors.strip()
    monkeypatch.delenv("EU_ACME_DSN", raising=False)
    monkeypatch.setenv("INTERNAL_DSN", "postgresql:///internal")
    with pytest.raises(UsageError) as raised:
        resolve_targets(load_fleet(write(tmp_path, fleet)), Secrets())
    assert f"{raised.value.label}: {raised.value}".replace(str(tmp_path) + "/", "") == unset.strip()
