"""`migrator docs`: each step's lint findings beside its SQL, and with `--rehearsal FILE`
what the rehearsal saw it do ("takes ACCESS EXCLUSIVE on public.profiles")."""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from migrator.cli import main
from migrator.plan import check_plan, load_plan
from migrator.rehearse.trace import StepTrace
from migrator.views.rehearsed import mode_words, read_rehearsal
from migrator.views.runbook import runbook
from migrator.views.runbook_markdown import markdown

PROFILES = textwrap.dedent(
    """\
    plan: profiles
    phases: [open, locked]
    transitions:
      - name: lock
        from: open
        to: locked
        steps:
          - name: an index on owners
            sql: create index concurrently profiles_owner_idx on profiles (owner)
            autocommit: true
            rollback:
              - sql: |
                  set statement_timeout = '1min';
                  drop index profiles_owner_idx
          - name: owners only
            policy: {table: profiles, name: owners only, command: select, using: "owner = 1"}
          - name: a wider owner
            sql: alter table profiles alter column owner type bigint
            rollback: {sql: alter table profiles alter column owner type int}
      - name: unlock
        from: locked
        to: open
        steps:
          - name: owners only no more
            sql: drop policy "owners only" on profiles
    """
)


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "profiles.yaml"
    path.write_text(PROFILES)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def entry(
    leg: str,
    transition: str,
    step: str,
    locks: list[dict[str, str]],
    rewritten: list[str],
    confirmed: tuple[str, ...] = (),
    *,
    undo: bool = False,
    in_transaction: bool = True,
) -> dict[str, Any]:
    """A step's trace as `rehearse --output json` writes it (`StepTrace.as_dict`)."""
    trace = StepTrace(step, undo, in_transaction, locks, rewritten, leg=leg, transition=transition)
    trace.confirmed = list(confirmed)
    return trace.as_dict()


def traced(checksum: str | None) -> dict[str, Any]:
    """A `rehearse --output json` document of PROFILES, in the shape rehearse writes it:
    each round trip's `trace`, one entry per step of each leg (SPEC.md, "Rehearsal trace")."""
    share = [{"relation": "public.x", "mode": "ShareLock"}]
    exclusive = [{"relation": "public.profiles", "mode": "AccessExclusiveLock"}]
    forward = [  # the index is built outside a transaction: its locks are not traced
        ("an index on owners", [], [], ()),
        ("owners only", [*exclusive, {"relation": "public.owners", "mode": "AccessShareLock"}],
         [], ()),
        ("a wider owner", exclusive, ["public.profiles", "public.profiles_pkey"],
         ("changing-column-type",)),
    ]  # fmt: skip
    trace = (  # in no particular order: the forward leg is the one shown
        [entry("forward again", "lock", s, share, r, c) for s, _, r, c in forward]
        + [entry("back", "unlock", "owners only no more", exclusive, [])]
        + [entry("forward", "lock", *s, in_transaction=i > 0) for i, s in enumerate(forward)]
    )
    for e in trace:  # what the concurrent build made, as the trace says it
        if e["step"] == "an index on owners":
            e["indexes"] = [
                {"index": "public.ownersidx", "relation": "public.profiles", "valid": True}
            ]
    document: dict[str, Any] = {
        "plan": "profiles",
        "result": "clean",
        "round_trips": [
            {"transition": "lock", "back": "unlock", "outcome": "clean", "trace": trace}
        ],
    }
    if checksum is not None:
        document["plan_checksum"] = checksum
    return document


def checksum_of(path: Path) -> str:
    return hashlib.sha256(path.read_text().encode()).hexdigest()


def test_each_step_shows_the_lint_findings_validate_reports_at_its_line(
    registry: Any, plan_file: Path
) -> None:
    plan, problems = check_plan(plan_file, registry)
    assert plan is not None
    found = [p for p in problems if p.rule is not None]
    assert found, "the plan must have lint findings for this test to mean anything"
    doc = runbook(plan, registry)
    shown = [
        (t["name"], s["name"], f["rule"], f["line"], f["column"], f["message"])
        for t in doc["transitions"]
        for s in t["steps"]
        for f in s["lint"]
    ]
    expected = []
    for p in found:  # each finding sits with the step its path is in (undo steps included)
        where = re.match(r"transitions\[(\d+)\]\.steps\[(\d+)\]", p.path)
        if where is None:
            continue  # about a transition or the plan, not a step
        t = doc["transitions"][int(where[1])]
        step = t["steps"][int(where[2])]["name"]
        expected.append((t["name"], step, p.rule, p.line, p.column, p.message))
    assert ("lock", "an index on owners") in {e[:2] for e in expected}  # the undo's too
    assert sorted(shown) == sorted(expected)
    text = markdown(doc)
    for _, _, rule, line, column, _ in shown:
        assert f"- ⚠ `{rule}` (line {line}, column {column}): " in text
    assert f"- **Lint findings:** {len(shown)} (each beside its step)" in text


def test_a_plan_without_findings_says_none(registry: Any, tmp_path: Path) -> None:
    path = tmp_path / "flag.yaml"
    path.write_text("plan: f\nkind: hotfix\nsteps:\n  - flag: {name: X, value: true}\n")
    text = markdown(runbook(load_plan(path, registry), registry))
    assert "- **Lint findings:** none" in text
    assert "Lint:" not in text and "**Rehearsed:**" not in text


def test_a_rehearsal_shows_each_steps_locks_and_rewrites_beside_its_sql(
    capsys: pytest.CaptureFixture[str], plan_file: Path, tmp_path: Path
) -> None:
    rehearsal = tmp_path / "rehearsal.json"
    rehearsal.write_text(json.dumps(traced(checksum_of(plan_file))))

    code, out, err = run(capsys, "docs", plan_file, "--rehearsal", rehearsal)

    assert code == 0, err
    assert err == ""
    assert f"- **Rehearsal:** each step's locks and rewrites as `{rehearsal}` saw them" in out
    assert (
        "**Rehearsed:** its locks were not traced (outside a transaction); builds index "
        "public.ownersidx on public.profiles (valid)\n" in out
    )  # never "takes no lock"; what it built is said
    assert out.count("takes no lock") == 0
    assert (
        "**Rehearsed:** takes ACCESS EXCLUSIVE on public.profiles; "
        "takes ACCESS SHARE on public.owners\n" in out
    )
    assert (
        "**Rehearsed:** takes ACCESS EXCLUSIVE on public.profiles; rewrites public.profiles, "
        "public.profiles\\_pkey (lint: confirms `changing-column-type`)" in out
    )
    # the reverse transition's step: as the back leg ran it; the forward again is not shown
    unlock = out[out.index("## 2. unlock") :]
    assert "**Rehearsed:** takes ACCESS EXCLUSIVE on public.profiles" in unlock
    assert "public.x" not in out
    # the SQL comes first, then what the rehearsal saw
    assert out.index("alter column owner type bigint") < out.index("rewrites public.profiles")

    code, out, _ = run(capsys, "docs", plan_file, "--rehearsal", rehearsal, "--output", "json")
    steps = json.loads(out)["transitions"][0]["steps"]
    assert steps[2]["rehearsal"]["rewritten"] == ["public.profiles", "public.profiles_pkey"]
    assert steps[1]["rehearsal"]["locks"][0] == {
        "relation": "public.profiles",
        "mode": "AccessExclusiveLock",
    }

    code, out, _ = run(capsys, "docs", plan_file, "--rehearsal", rehearsal, "--output", "html")
    assert "takes ACCESS EXCLUSIVE on public.profiles" in out


def test_a_rehearsal_of_another_version_of_the_plan_is_refused(
    capsys: pytest.CaptureFixture[str], plan_file: Path, tmp_path: Path
) -> None:
    rehearsal = tmp_path / "rehearsal.json"
    rehearsal.write_text(json.dumps(traced(checksum_of(plan_file))))
    plan_file.write_text(PROFILES.replace("type bigint", "type numeric"))

    code, out, err = run(capsys, "docs", plan_file, "--rehearsal", rehearsal)

    assert code == 2
    assert out == ""
    assert f"rehearsed another version of {plan_file} (the plan's checksum differs)" in err
    assert f"migrator rehearse {plan_file} --output json > {rehearsal}" in err


def test_a_rehearsal_of_another_plan_is_refused(
    capsys: pytest.CaptureFixture[str], plan_file: Path, tmp_path: Path
) -> None:
    rehearsal = tmp_path / "rehearsal.json"
    rehearsal.write_text(json.dumps({**traced(None), "plan": "billing"}))

    code, out, err = run(capsys, "docs", plan_file, "--rehearsal", rehearsal)

    assert code == 2 and out == ""
    assert "is a rehearsal of plan 'billing', not of 'profiles'" in err


def test_a_rehearsal_that_does_not_name_its_version_is_shown_with_a_warning(
    capsys: pytest.CaptureFixture[str], plan_file: Path, tmp_path: Path
) -> None:
    rehearsal = tmp_path / "rehearsal.json"
    rehearsal.write_text(json.dumps(traced(None)))

    code, out, err = run(capsys, "docs", plan_file, "--rehearsal", rehearsal)

    assert code == 0
    assert "does not say which version of" in err and "no plan_checksum" in err
    assert "takes ACCESS EXCLUSIVE on public.profiles" in out


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "cannot read it"),
        ("{not json", "not JSON"),
        ("[1, 2]", "not the JSON of `migrator rehearse PLAN --output json`"),
        ('{"result": "clean"}', "not the JSON of `migrator rehearse PLAN --output json`"),
    ],
)
def test_a_file_that_is_not_a_rehearsal_is_bad_usage(
    capsys: pytest.CaptureFixture[str],
    plan_file: Path,
    tmp_path: Path,
    content: str | None,
    said: str,
) -> None:
    rehearsal = tmp_path / "rehearsal.json"
    if content is not None:
        rehearsal.write_text(content)

    code, out, err = run(capsys, "docs", plan_file, "--rehearsal", rehearsal)

    assert code == 2 and out == ""
    assert f"--rehearsal '{rehearsal}': {said}" in err


def test_strange_entries_in_a_rehearsal_are_passed_over(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    document = {
        "plan": "p",
        "round_trips": [
            {
                "transition": "t",
                "steps": [
                    {"leg": "forward", "step": "s", "locks": "all", "rewritten": None},
                    {"leg": "forward", "locks": []},  # no step name
                    {"leg": "forward", "step": "u", "locks": [{"mode": "ShareLock"}, 3]},
                    {
                        "leg": "forward",
                        "step": "v",
                        "locks": [],
                        "rewritten": [5, {"a": 1}],
                        "lint": {"confirmed": 5, "refuted": "abc"},
                    },
                ],
            }
        ],
    }
    path.write_text(json.dumps(document))
    found = read_rehearsal(path)
    assert found.checksum is None
    assert found.trace("t", "s") == {
        "locks": None,
        "rewritten": [],
        "lint": {"confirmed": [], "refuted": []},
        "text": "its locks were not traced",
    }
    assert found.trace("t", "u") is not None
    assert (
        found.trace("t", "u")["text"]
        == "takes no lock on a relation that was there before, and rewrites nothing"
    )  # type: ignore[index]
    assert found.trace("t", "v") == {  # a number, a string: no verdict, not its characters
        "locks": [],
        "rewritten": [],
        "lint": {"confirmed": [], "refuted": []},
        "text": "takes no lock on a relation that was there before, and rewrites nothing",
    }


def deep(levels: int) -> str:
    return '{"plan": "profiles", "round_trips": ' + "[" * levels + "]" * levels + "}"


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ('{"plan": "profiles", "plan_checksum": 7}', "its plan_checksum is not a string"),
        ('{"plan": "profiles", "plan_checksum": ["x"]}', "its plan_checksum is not a string"),
        (deep(5000), "nested"),
        (deep(100), "nested deeper than 32 levels"),
    ],
)
def test_a_malformed_rehearsal_is_bad_usage_with_a_reason(
    capsys: pytest.CaptureFixture[str], plan_file: Path, tmp_path: Path, content: str, said: str
) -> None:
    rehearsal = tmp_path / "rehearsal.json"
    rehearsal.write_text(content)

    code, out, err = run(capsys, "docs", plan_file, "--rehearsal", rehearsal)

    assert (code, out) == (2, ""), err
    assert f"--rehearsal '{rehearsal}': not " in err and said in err
    assert "Traceback" not in err


def test_lint_verdicts_of_the_wrong_type_are_no_verdicts(
    capsys: pytest.CaptureFixture[str], plan_file: Path, tmp_path: Path
) -> None:
    document = traced(checksum_of(plan_file))
    for step in document["round_trips"][0]["trace"]:
        step["lint"] = {"confirmed": 5, "refuted": "abc"}
    rehearsal = tmp_path / "rehearsal.json"
    rehearsal.write_text(json.dumps(document))

    code, out, err = run(capsys, "docs", plan_file, "--rehearsal", rehearsal)

    assert code == 0, err
    assert "(lint:" not in out and "`a`" not in out


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("AccessExclusiveLock", "ACCESS EXCLUSIVE"),
        ("ShareRowExclusiveLock", "SHARE ROW EXCLUSIVE"),
        ("ShareLock", "SHARE"),
        ("SIReadLock", "SIReadLock"),
    ],
)
def test_lock_modes_are_named_as_people_say_them(mode: str, words: str) -> None:
    assert mode_words(mode) == words


def test_with_several_plans_each_rehearsal_goes_to_its_own_plan(
    capsys: pytest.CaptureFixture[str], plan_file: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("plan: other\nkind: hotfix\nsteps:\n  - flag: {name: X, value: true}\n")
    rehearsal = tmp_path / "rehearsal.json"
    rehearsal.write_text(json.dumps(traced(checksum_of(plan_file))))
    out_dir = tmp_path / "runbooks"

    code, _, err = run(capsys, "docs", plan_file, other, "--out", out_dir, "--rehearsal", rehearsal)

    assert code == 0, err
    assert "takes ACCESS EXCLUSIVE on public.profiles" in (out_dir / "profiles.md").read_text()
    assert "**Rehearsed:**" not in (out_dir / "other.md").read_text()

    stray = tmp_path / "stray.json"
    stray.write_text(json.dumps({**traced(None), "plan": "billing"}))
    code, _, err = run(capsys, "docs", plan_file, other, "--out", out_dir, "--rehearsal", stray)
    assert code == 2
    assert "is a rehearsal of plan 'billing', not of 'profiles', 'other'" in err

    code, _, err = run(
        capsys, "docs", plan_file, "--rehearsal", rehearsal, "--rehearsal", rehearsal
    )
    assert code == 2
    assert "two --rehearsal documents of plan 'profiles': give one" in err


def test_an_undo_that_the_way_back_ran_shows_what_it_did(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan = tmp_path / "hotfix.yaml"
    plan.write_text(
        "plan: hotfix\nkind: hotfix\nsteps:\n"
        "  - name: a wider owner\n"
        "    sql: alter table profiles alter column owner type bigint\n"
        "    rollback: {sql: alter table profiles alter column owner type int}\n"
    )
    undo = {"relation": "public.profiles", "mode": "AccessExclusiveLock"}
    document = {
        "plan": "hotfix",
        "plan_checksum": checksum_of(plan),
        "round_trips": [
            {
                "transition": "apply",
                "back": None,  # the undo of its steps, by the run `revert apply`
                "trace": [
                    entry("forward", "apply", "a wider owner", [], []),
                    entry("back", "revert apply", "undo a wider owner", [undo], [], undo=True),
                ],
            }
        ],
    }
    rehearsal = tmp_path / "rehearsal.json"
    rehearsal.write_text(json.dumps(document))

    code, out, err = run(capsys, "docs", plan, "--rehearsal", rehearsal)

    assert code == 0, err
    assert (
        "**Rehearsed:** takes no lock on a relation that was there before, and rewrites nothing"
        in out
    )
    assert "**Undo rehearsed:** takes ACCESS EXCLUSIVE on public.profiles" in out
    way_back = out[out.index("## 2.") :]  # the hotfix's way back: its steps undone
    assert "**Rehearsed:** takes ACCESS EXCLUSIVE on public.profiles" in way_back


def test_a_relation_name_with_line_breaks_stays_on_the_steps_line(
    capsys: pytest.CaptureFixture[str], plan_file: Path, tmp_path: Path
) -> None:
    document = traced(checksum_of(plan_file))
    odd = "public.x\n\n# Injected heading\n- item"
    for step in document["round_trips"][0]["trace"]:
        step["locks"] = [{"relation": odd, "mode": "AccessExclusiveLock"}]
        step["rewritten"] = [odd]
        step["lint"] = {"confirmed": ["rule\n# two"], "refuted": []}
    rehearsal = tmp_path / "rehearsal.json"
    rehearsal.write_text(json.dumps(document))

    code, out, err = run(capsys, "docs", plan_file, "--rehearsal", rehearsal)

    assert code == 0, err
    lines = out.splitlines()
    assert not any(line.startswith(("# Injected", "- item", "# two")) for line in lines), out
    shown = [line for line in lines if line.startswith("**Rehearsed:**")]
    assert shown and all("Injected heading" in line for line in shown), shown
