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


SEPARATORS = (">", "2>", "|", "||", "&&", ";")


def commands(shell: str) -> list[list[str]]:
    """Each `migrator ...` command of a shell script: its words, up to a redirection or pipe."""
    found = []
    for line in shell.replace('"${REHEARSAL[@]}"', "--rehearsal rehearsal.json").splitlines():
        if "<<" in line:  # a here-document: not migrator's
            break
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


def loading(shell: list[str]) -> str:
    (line,) = [s for s in shell if "schema.sql" in s]
    return line


@pytest.mark.parametrize("shell", [shell_of_github, shell_of_gitlab], ids=["github", "gitlab"])
def test_the_schema_loading_reads_what_pg_dump_18_writes(
    shell: Any, sql: Any, database: str, tmp_path: Path
) -> None:
    """The example's own line loads a `pg_dump --schema-only` of the embedded pg_dump (18:
    it writes `\\restrict KEY`, which a driver's execute refuses) into an empty database."""
    import os
    import subprocess

    from migrator.db.embedded import programs

    sql("create table widgets (id int primary key, name text not null)")
    sql("create index widgets_name on widgets (name)")
    dump = subprocess.run(
        [str(Path(programs()) / "pg_dump"), "--schema-only", "--no-owner", database],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "\\restrict " in dump.stdout  # what made the old psycopg line fail
    (tmp_path / "schema.sql").write_text(dump.stdout)
    sql("drop table widgets")
    env = {**os.environ, "MIGRATOR_DSN": database}
    done = subprocess.run(
        ["bash", "-e", "-c", loading(shell())], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert sql("select count(*) from pg_indexes where indexname = 'widgets_name'") == [(1,)]


def test_a_failure_is_commented_then_fails_the_job() -> None:
    """Each command's exit code recorded, not ending the job before the comment; the
    comment posted whatever they said; the job failing at its end if any failed."""
    (job,) = github()["jobs"].values()
    steps = job["steps"]
    names = [s.get("id") for s in steps]
    for step in ("validate", "rehearse", "comment"):
        run = steps[names.index(step)]["run"]
        assert "|| code=$?" in run and 'echo "code=$code" >> "$GITHUB_OUTPUT"' in run, run
    last = steps[-1]
    assert "steps.comment.outputs.code" in last["env"]["CODES"] and '"0 0 0"' in last["run"]
    lab = shell_of_gitlab()
    assert [line for line in lab if "|| " in line and line.startswith("migrator ")] == [
        line for line in lab if line.startswith("migrator ")
    ]
    assert lab[-1] == 'test "$VALIDATED $REHEARSED $PLANNED" = "0 0 0"'


def test_the_comment_edited_is_the_jobs_own_and_forks_are_skipped() -> None:
    (job,) = github()["jobs"].values()
    (post,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/github-script")]
    script = post["with"]["script"]
    assert "github.paginate(" in script
    assert 'c.user.type === "Bot"' in script and 'c.user.login === "github-actions[bot]"' in script
    assert post["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert job["steps"][0]["with"]["fetch-depth"] == 0  # the base branch, for git diff
    (note,) = [line for line in shell_of_gitlab() if "urllib.request" in line]
    assert 'call(f"{api}/user")["id"]' in note and 'n["author"]["id"] == me' in note
    assert 'not n["system"]' in note and "page={page}" in note


def test_the_docs_one_liner_leaves_deleted_plans_out_against_the_base_branch() -> None:
    line = re.search(r"^migrator docs .*$", CI.read_text(encoding="utf-8"), re.M)
    assert line is not None
    assert '--diff-filter=d "origin/$GITHUB_BASE_REF...HEAD"' in line[0]


def test_the_comment_step_says_what_failed_for_real(tmp_path: Path, database: str) -> None:
    """The workflow's comment step run as it is: an invalid plan, a failed rehearsal and
    validation recorded; the comment still starts with the job's marker and says so."""
    import os
    import subprocess

    (job,) = github()["jobs"].values()
    (step,) = [s for s in job["steps"] if s.get("id") == "comment"]
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "bad.yaml").write_text("plan: bad\nkind: hotfix\nsteps: nope\n")
    output = tmp_path / "github_output"
    env = {**os.environ, "PLAN": "plans/bad.yaml", "TO": "applied", "VALIDATED": "2",
           "REHEARSED": "2", "GITHUB_OUTPUT": str(output), "MIGRATOR_DSN": database}  # fmt: skip
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", step["run"]], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr  # the step itself goes on to the posting
    assert output.read_text() == "code=2\n"
    comment = (tmp_path / "comment.md").read_text()
    assert comment.startswith("<!-- migrator-ci: plans/bad.yaml -->\n"), comment
    assert "❌ **migrator validate exited 2**" in comment
    assert "❌ **migrator rehearse exited 2**" in comment
    assert "❌ **migrator plan exited 2**" in comment and "plans/bad.yaml:3:" in comment, comment
