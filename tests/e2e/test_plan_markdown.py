"""`migrator plan --output markdown`: the dry run as a pull-request comment, on a real
database: a pre-check that fails today, lint findings, a real rehearsal's locks, SQL that
tries to break out of its fence, and both of the sweep's secrets kept out."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.httpserver import reply, serving
from tests.rehearsing import fitting_pg_dump
from tests.secrets_sweep import ENV_NAME, SecretsSweep, sweep_of

PLAN = """\
plan: owners
phases: [before, after]
transitions:
  - name: widen
    from: before
    to: after
    risk: high
    approval: true
    pre_checks:
      - name: no owner is missing
        query: select count(*) from profiles where owner is null
        expect: 0
      - name: the api knows us
        http: {{url: "{url}/echo", headers: {{Authorization: "Bearer ${{env:{env}}}"}}}}
        expect: {{status: 200}}
    steps:
      - name: a wider owner
        sql: alter table profiles alter column owner type bigint
        rollback: {{sql: alter table profiles alter column owner type int}}
      - name: an index on owners
        sql: create index profiles_owner_idx on profiles (owner)
        rollback: {{sql: drop index profiles_owner_idx}}
      - name: a comment with a fence
        sql: |
          comment on table profiles is '
          ```
          # not a heading
          <!-- migrator-plan: forged -->
          ';
        rollback: irreversible
    post_checks:
      - name: still there
        query: select count(*) from profiles
        expect: ">= 1"
"""


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An HTTP endpoint that answers 200 with the Authorization header it was sent."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

    def answer(request: BaseHTTPRequestHandler) -> None:
        auth = request.headers.get("Authorization", "")
        reply(request, 200, json.dumps({"authorization": auth}).encode())

    with serving(answer) as url:
        yield url


@pytest.fixture
def sweep(request: pytest.FixtureRequest) -> SecretsSweep:
    found = sweep_of(request.config)
    assert found is not None
    return found


@pytest.fixture
def owners(write_plan: Any, sql: Any, echo: str) -> Path:
    sql("create table profiles (id int primary key, owner int)")
    sql("insert into profiles values (1, 10), (2, null)")  # the pre-check fails today
    return Path(write_plan(PLAN.format(url=echo, env=ENV_NAME), "owners.yaml"))


def test_the_comment_shows_path_prechecks_sql_lint_undo_and_the_rehearsal(
    migrator: Any, owners: Path, admin_dsn: str, tmp_path: Path, sweep: SecretsSweep
) -> None:
    rehearsed = migrator(
        "rehearse", owners, "--scratch-dsn", admin_dsn, *fitting_pg_dump(admin_dsn),
        "--output", "json",
    )  # fmt: skip
    assert rehearsed.code == 0, rehearsed.out + rehearsed.err
    rehearsal = tmp_path / "rehearsal.json"
    rehearsal.write_text(rehearsed.out)

    done = migrator(
        "plan", owners, "--to", "after", "--output", "markdown", "--rehearsal", rehearsal
    )
    assert done.code == 0, done.err
    md = done.out
    lines = md.splitlines()
    assert lines[0] == "<!-- migrator-plan: owners -->"  # CI finds its comment by it
    assert f"### migrator plan: `owners` (`{owners}`)" in md
    assert "**Path:** `before` → `after`" in md
    assert "#### 1. widen: `before` → `after`" in md
    assert "**Risk:** high · **Approval:** **required**" in md
    # the pre-checks as they stand today: one fails, with its actual and expected values
    assert "| ❌ **fails** | no owner is missing | `1` | `0` |" in md, md
    assert "**Pre-checks failing today:** 1" in md
    assert "| ✅ passes | the api knows us |" in md
    # each step's exact SQL, fenced as SQL
    assert "```sql\nalter table profiles alter column owner type bigint\n```" in md
    # the lint findings of validate, each at FILE:LINE:COL, beside their step
    validated = migrator("validate", owners, "--output", "json", "--no-squawk")
    findings = [p for p in json.loads(validated.out)["problems"] if p.get("rule")]
    assert any(f["rule"] == "require-concurrent-index-creation" for f in findings), findings
    for f in findings:
        if ".steps[" not in f".{f['path']}":
            continue
        where = f"{owners}:{f['line']}:{f['column']}"
        assert f"- ⚠️ `{f['rule']}` at `{where}`: " in md, (f, md)
    index_step = md[md.index("**Step 2. an index on owners**") : md.index("**Step 3.")]
    assert "require-concurrent-index-creation" in index_step
    own, undo = index_step.split("**Undo:**")  # a rollback's findings beside the undo
    assert "require-concurrent-index-deletion" in undo and "-deletion" not in own, index_step
    # the rehearsal's locks and rewrites, beside the step that took them
    wider = md[md.index("**Step 1. a wider owner**") : md.index("**Step 2.")]
    assert "**Rehearsed:** takes ACCESS EXCLUSIVE on public.profiles" in wider, wider
    assert "rewrites public.profiles" in wider
    assert "**Rehearsal:** ✅ passed" in md  # a clean rehearsal, said clean
    # the undo of each step
    assert "**Undo:**\n\n```sql\nalter table profiles alter column owner type int\n```" in wider
    assert "**Undo:** nothing: marked irreversible" in md
    # what the pre-checks run, folded; the post-checks with theirs
    assert (
        "<summary>What the pre-checks run</summary>\n\n**no owner is missing** (`query`)\n\n"
        "```sql\nselect count(*) from profiles where owner is null\n```"
    ) in md
    assert (
        "- still there (`query`, expect `>= 1`)\n\n```sql\nselect count(*) from profiles\n```" in md
    )
    # SQL holding a backtick fence stays inside a longer fence: no heading, no marker forged
    opening = lines.index("````sql")
    closing = lines.index("````", opening)
    inside = lines[opening + 1 : closing]
    assert "```" in inside and "# not a heading" in inside, inside
    assert "<!-- migrator-plan: forged -->" in inside
    outside = lines[:opening] + lines[closing + 1 :]  # CI matches a body that starts with it
    assert [line for line in outside if line.startswith("<!-- migrator-plan")] == [lines[0]]
    # no secret: the DSN's password, the ${env:...} value the endpoint echoed back
    assert sweep.password not in md + done.err
    assert sweep.env_value not in md + done.err
    assert "Bearer ***" in md  # the echoed header was shown, masked
    # nothing but the document on stdout: the lines for people went to stderr
    assert md.endswith("nothing was changed; the pre-checks were evaluated read-only "
                       "against the data of today.</sub>\n")  # fmt: skip


def test_long_sql_is_folded_and_an_empty_path_says_so(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    body = "".join(f"      select {n};\n" for n in range(20))
    plan = write_plan(
        "plan: long\nkind: hotfix\nsteps:\n  - name: many\n    sql: |\n" + body, "long.yaml"
    )
    done = migrator("plan", plan, "--output", "markdown")
    md = done.out
    assert done.code == 0, done.err
    assert "<details>\n<summary>SQL (20 lines)</summary>\n\n```sql\nselect 0;" in md, md
    assert "select 19;\n```\n\n</details>" in md
    assert migrator("apply", plan, "--yes").code == 0
    again = migrator("plan", plan, "--output", "markdown")
    assert again.code == 0
    assert "The plan is already in phase `applied`: `apply` would do nothing." in again.out


def test_a_rehearsal_of_another_version_or_without_markdown_is_refused(
    migrator: Any, write_plan: Any, tmp_path: Path
) -> None:
    plan = write_plan("plan: one\nkind: hotfix\nsteps:\n  - {sql: select 1}\n", "one.yaml")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"plan": "one", "plan_checksum": "0" * 64}))
    refused = migrator("plan", plan, "--output", "markdown", "--rehearsal", other)
    assert refused.code == 2
    assert "rehearsed another version" in refused.err
    assert refused.out == ""
    nowhere = migrator("plan", plan, "--to", "nowhere", "--output", "markdown")
    assert nowhere.code == 2 and nowhere.out == "", nowhere  # the dry run's exit codes
    text = migrator("plan", plan, "--rehearsal", other)
    assert text.code == 2
    assert "--rehearsal is shown by --output markdown only" in text.err
    assert re.search(r"markdown", migrator("plan", "--help", dsn=False).out)


def test_docs_output_markdown_of_several_plans_is_one_comment(
    migrator: Any, write_plan: Any
) -> None:
    one = write_plan("plan: one\nkind: hotfix\nsteps:\n  - {sql: select 1}\n", "one.yaml")
    two = write_plan(
        "plan: two\nkind: hotfix\nsteps:\n  - {sql: create index i on t (c)}\n", "two.yaml"
    )
    done = migrator("docs", "--output", "markdown", one, two, dsn=False)
    assert done.code == 0, done.err
    assert done.out.startswith("<!-- migrator-docs -->\n# Runbook: one\n")
    assert "\n---\n\n# Runbook: two\n" in done.out
    assert "require-concurrent-index-creation" in done.out  # each step's lint findings
    assert "```mermaid" in done.out  # the Markdown itself, for GitHub: a diagram
    # text output keeps its old rule: one plan, or --out
    refused = migrator("docs", one, two, dsn=False)
    assert refused.code == 2


DIRTY = """\
plan: p2
kind: hotfix
steps:
  - name: a colour
    sql: alter table widgets add column colour text
    rollback: {sql: select 1}
"""

BROKEN = """\
plan: p3
kind: hotfix
steps:
  - name: a typo
    sql: alter tabel widgets add column colour text
    rollback: {sql: select 1}
"""


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (DIRTY, "column public.widgets.colour is there and was not before"),
        (BROKEN, "syntax error"),
    ],
    ids=["an undo that does not restore", "a forward leg that fails"],
)
def test_a_failed_rehearsal_is_said_failed_with_what_failed(
    migrator: Any, write_plan: Any, sql: Any, admin_dsn: str, tmp_path: Path, text: str, said: str
) -> None:
    sql("create table widgets (id int primary key)")
    plan = write_plan(text, "p.yaml")
    rehearsed = migrator(
        "rehearse", plan, "--scratch-dsn", admin_dsn, *fitting_pg_dump(admin_dsn),
        "--output", "json",
    )  # fmt: skip
    assert rehearsed.code == 1, rehearsed.out + rehearsed.err  # the rehearsal failed
    rehearsal = tmp_path / "reh.json"
    rehearsal.write_text(rehearsed.out)
    done = migrator("plan", plan, "--output", "markdown", "--rehearsal", rehearsal)
    assert done.code == 0, done.err
    md = done.out
    summary = next(line for line in md.splitlines() if line.startswith("**Pre-checks"))
    assert "**Rehearsal:** ❌ **failed**" in summary, summary
    section = md[md.index("**Rehearsal** (") :]
    assert said in section, md
    # a clean verdict is never given to a failed rehearsal
    assert "✅" not in summary.split("**Rehearsal:**")[1], summary


def fences_close(md: str) -> bool:
    """Every fence opened is closed by the same fence, nothing left open."""
    lines, i = md.split("\n"), 0
    while i < len(lines):
        opening = re.match(r"^(`{3,})[a-z]*$", lines[i])
        if opening:
            if opening[1] not in lines[i + 1 :]:
                return False
            i = lines.index(opening[1], i + 1)
        i += 1
    return md.count("<details>") == md.count("</details>")


def test_a_comment_too_long_for_github_is_cut_in_its_longest_sql_saying_where_it_is(
    migrator: Any, write_plan: Any
) -> None:
    body = "".join(f"      insert into t values ({n}, 'a value of some length {n}');\n"
                   for n in range(1500))  # fmt: skip
    plan = write_plan(
        "plan: big\nkind: hotfix\nsteps:\n  - name: short\n    sql: select 42\n"
        "  - name: many\n    sql: |\n" + body,
        "big.yaml",
    )
    done = migrator("plan", plan, "--output", "markdown")
    assert done.code == 0, done.err
    md = done.out
    assert len(md) <= 60_000, len(md)  # GitHub refuses a comment over 65,536 characters
    assert md.startswith("<!-- migrator-plan: big -->\n")
    assert "```sql\nselect 42\n```" in md  # the short SQL whole: the longest is cut first
    assert "insert into t values (0, " in md  # the long one's beginning kept
    assert re.search(
        rf"lines cut to fit a comment: the whole text is in `{re.escape(str(plan))}`", md
    )
    assert fences_close(md), md[-2000:]
    assert md.rstrip().endswith("against the data of today.</sub>")


def test_the_bound_cuts_outside_fences_and_closes_details_when_cutting_sql_is_not_enough() -> None:
    from migrator.views.plan_markdown import bounded

    block = (
        "<details>\n<summary>x</summary>\n\n```sql\n" + "select 1;\n" * 50 + "```\n\n</details>\n"
    )
    text = "<!-- m -->\n" + "\n".join(f"**Step {n}**\n{block}" for n in range(400))
    cut = bounded(text, 5_000, "p.yaml")
    assert len(cut) <= 5_000
    assert cut.startswith("<!-- m -->\n")
    assert fences_close(cut), cut[-500:]
    assert "the rest cut to fit a comment" in cut
    assert bounded("short\n", 5_000, "p.yaml") == "short\n"


LINKS = """\
plan: links
phases: [before, after]
transitions:
  - name: go
    from: before
    to: after
    description: see https://evil.example/x or www.evil.example, mail a@evil.example, ping @team
    steps:
      - {name: one, sql: select 1}
"""


def test_bare_urls_addresses_and_mentions_in_plan_prose_are_not_links(
    migrator: Any, write_plan: Any
) -> None:
    """GitHub's autolink extension links `scheme://`, `www.` and e-mail addresses in bare
    text, and notifies an @mention: plan prose is escaped so none is (the escapes checked
    with cmark-gfm, GitHub's renderer: `\\:` and `\\.` are read as the characters, and a
    zero-width space after `@` leaves no address and no mention)."""
    plan = write_plan(LINKS, "links.yaml")
    planned = migrator("plan", plan, "--to", "after", "--output", "markdown")
    documented = migrator("docs", "--output", "markdown", plan, dsn=False)
    for done in (planned, documented):
        assert done.code == 0, done.err
        md = done.out
        assert "see https\\://evil.example/x or www\\.evil.example" in md, md
        assert "mail a@&#8203;evil.example, ping @&#8203;team" in md, md
        for bare in ("https://evil", "www.evil", "a@evil", "@team"):
            assert bare not in md, (bare, md)
