"""docs/ci.md's GitHub Actions workflow and GitLab CI job, read out of the page: each
parses as YAML, every `migrator` command in them is a real command with real options,
and the workflow may comment on pull requests."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from migrator.cli.group import cli

CI = Path(__file__).resolve().parents[2] / "docs" / "ci.md"


def examples() -> list[dict[str, Any]]:
    blocks = re.findall(r"^```yaml\n(.*?)^```$", CI.read_text(encoding="utf-8"), re.M | re.S)
    return [yaml.safe_load(block) for block in blocks]


def github() -> dict[str, Any]:
    (found,) = [e for e in examples() if "jobs" in e]
    return found


def gitlab() -> dict[str, Any]:
    (found,) = [e for e in examples() if "migrations" in e and "script" in e["migrations"]]
    return found


SEPARATORS = (">", "|", "||", "&&", ";")


def commands(shell: str) -> list[list[str]]:
    """Each `migrator ...` command of a shell script: its words, up to a redirection or pipe."""
    found = []
    for line in shell.splitlines():
        segment: list[str] = []
        for word in [*shlex.split(line, comments=True), ";"]:
            if word not in SEPARATORS:
                segment.append(word)
                continue
            if segment[:1] == ["migrator"]:
                found.append(segment[1:])
            segment = []
    return found


def shell_of_github() -> list[str]:
    steps = [s for job in github()["jobs"].values() for s in job["steps"]]
    return [s["run"] for s in steps if "run" in s]


def shell_of_gitlab() -> list[str]:
    return [str(line) for line in gitlab()["migrations"]["script"]]


def parses(argv: list[str]) -> click.Context:
    """`migrator ARGV` parsed as the command line parses it (an unknown option or a
    command that does not exist: click's UsageError)."""
    group = click.Context(cli, info_name="migrator")
    command = cli.get_command(group, argv[0])
    if command is None:
        raise click.UsageError(f"no command {argv[0]}")
    return command.make_context(argv[0], list(argv[1:]), parent=group)


def test_both_examples_are_yaml_of_their_kind() -> None:
    assert len(examples()) == 2
    workflow = github()
    assert workflow["permissions"]["pull-requests"] == "write"
    (job,) = workflow["jobs"].values()
    assert "postgres" in job["services"]
    assert any(s.get("uses", "").startswith("actions/github-script") for s in job["steps"])
    lab = gitlab()["migrations"]
    assert lab["artifacts"]["reports"]["codequality"] == "gl-code-quality-report.json"
    assert any("postgres" in str(s) for s in lab["services"])


@pytest.mark.parametrize("shell", [shell_of_github, shell_of_gitlab], ids=["github", "gitlab"])
def test_every_migrator_command_is_real(shell: Any) -> None:
    found = [argv for script in shell() for argv in commands(script)]
    names = [argv[0] for argv in found]
    assert names == ["validate", "rehearse", "plan"], found
    for argv in found:
        ctx = parses(argv)
        if argv[0] == "validate":
            assert ctx.params["output"] in ("github", "gitlab")
        if argv[0] == "rehearse":
            assert ctx.params["output"] == "json"
        if argv[0] == "plan":
            assert ctx.params["output"] == "markdown"
            assert ctx.params["rehearsal"] == "rehearsal.json"


def test_the_parse_refuses_an_option_that_does_not_exist() -> None:
    with pytest.raises(click.UsageError):
        parses(["plan", "p.yaml", "--output", "markdown", "--comment"])
    with pytest.raises(click.UsageError):
        parses(["rehearse", "p.yaml", "--output", "markdown"])  # plan's alone


def test_the_docs_one_liner_is_real() -> None:
    line = re.search(r"^migrator docs .*$", CI.read_text(encoding="utf-8"), re.M)
    assert line is not None
    words = shlex.split(re.sub(r"\$\(.*?\)", "plans/a.yaml plans/b.yaml", line[0]))
    ctx = parses(words[1 : words.index(">")])
    assert ctx.params["output"] == "markdown"
    assert ctx.params["plans"] == ("plans/a.yaml", "plans/b.yaml")


@pytest.mark.parametrize("shell", [shell_of_github, shell_of_gitlab], ids=["github", "gitlab"])
def test_every_script_is_shell_that_parses(shell: Any) -> None:
    import subprocess

    for script in shell():
        done = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
        assert done.returncode == 0, (script, done.stderr)
