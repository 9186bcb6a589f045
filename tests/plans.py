"""Plan YAML for tests, built from its steps and checks instead of written out again.

Each step or check is the YAML text of one list item without its dash: one line
(`"{sql: select 1}"`) or several (`traced("one")`). The builders indent them and write
the frame around them the way a person writes a plan, so that a test can still
`.replace(...)` a line of the result.
"""

from __future__ import annotations

from collections.abc import Sequence

BACKFILL_ROWS = 20_000  # rows of `src` in the backfill tests
COPY = "insert into dst select id, v from src where id > :lo and id <= :hi"


def items(entries: Sequence[str], indent: int) -> str:
    """`entries` as the items of a YAML block list, `indent` spaces in."""
    pad = " " * indent
    out = []
    for entry in entries:
        first, *rest = entry.split("\n")
        out.append(f"{pad}- {first}\n")
        out.extend(f"{pad}  {line}\n" for line in rest)
    return "".join(out)


def _section(key: str, entries: Sequence[str], indent: int) -> str:
    return f"{' ' * indent}{key}:\n{items(entries, indent + 2)}" if entries else ""


def phased(
    name: str,
    steps: Sequence[str],
    *,
    pre_checks: Sequence[str] = (),
    post_checks: Sequence[str] = (),
    variables: str | None = None,
    phases: tuple[str, str] = ("a", "b"),
    transition: str = "go",
) -> str:
    """A plan of two phases and one transition between them."""
    head = f"plan: {name}\n" + (f"vars: {variables}\n" if variables else "")
    return (
        f"{head}phases: [{phases[0]}, {phases[1]}]\n"
        "transitions:\n"
        f"  - name: {transition}\n"
        f"    from: {phases[0]}\n"
        f"    to: {phases[1]}\n"
        + _section("pre_checks", pre_checks, 4)
        + _section("steps", steps, 4)
        + _section("post_checks", post_checks, 4)
    )


def hotfix(
    name: str,
    steps: Sequence[str],
    *,
    pre_checks: Sequence[str] = (),
    post_checks: Sequence[str] = (),
    variables: str | None = None,
) -> str:
    """A hotfix plan: no phases, its steps undone in reverse by `migrator rollback`."""
    head = f"plan: {name}\nkind: hotfix\n" + (f"vars: {variables}\n" if variables else "")
    return (
        head
        + _section("pre_checks", pre_checks, 0)
        + _section("steps", steps, 0)
        + _section("post_checks", post_checks, 0)
    )


def sql_step(name: str, sql: str, undo: str | None = None) -> str:
    """A step that runs `sql`, undone by running `undo` (both YAML scalars as written)."""
    return f"name: {name}\nsql: {sql}" + (f"\nrollback: {{sql: {undo}}}" if undo else "")


def traced(step: str, sql: str | None = None, undo_also: str = "") -> str:
    """A step that appends its name to table `ran` (or runs `sql`); its undo appends it to
    `undone` (then runs `undo_also`)."""
    undo = f"insert into undone values ('{step}')" + (f"; {undo_also}" if undo_also else "")
    return sql_step(step, sql or f"insert into ran values ('{step}')", f'"{undo}"')


def backfill_plan(
    *,
    batch_size: int = 1000,
    parallel: int | None = None,
    statement: str = COPY,
    extra: str = "",
    variables: str = "{nap: 0.0}",
) -> str:
    """Plan `fill`: one backfill step `copy` from `src` to `dst` (empty -> full), undone by
    emptying `dst`, checked by counting it. `extra`: more lines of the backfill's block."""
    streams = f"          parallel: {parallel}\n" if parallel is not None else ""
    return f"""\
plan: fill
vars: {variables}
phases: [empty, full]
transitions:
  - name: fill
    from: empty
    to: full
    steps:
      - name: copy
        backfill:
          table: src
          key: id
          batch_size: {batch_size}
{streams}          statement: "{statement}"
{extra}        rollback: {{sql: truncate dst}}
    post_checks:
      - {{query: select count(*) from dst, expect: {BACKFILL_ROWS}}}
"""


# Tables `traced` steps write to, with the time of each row.
TRACE_TABLES = (
    "create table ran (step text, at timestamptz default clock_timestamp()); "
    "create table undone (step text, at timestamptz default clock_timestamp())"
)

# Four traced steps from a to b; the third sleeps `nap` seconds (a process can be killed in
# it); the post-check wants all four.
FOUR_STEPS = phased(
    "four",
    [
        traced("one"),
        traced("two"),
        traced("three", sql="\"insert into ran values ('three'); select pg_sleep(:nap)\""),
        traced("four"),
    ],
    post_checks=["{query: select count(*) from ran, expect: 4}"],
    variables="{nap: 0}",
)


def live_plan(
    statement: str,
    *,
    extra: str = "",
    step: str = "",
    batch_size: int = 100,
    rollback: str = "select 1",
) -> str:
    """Plan `live`: one backfill step `fill` over `src` (a -> b), undone by `rollback`.
    `step`: more lines of the step (`lock_timeout: 200ms`); `extra`: of its backfill."""
    return f"""\
plan: live
phases: [a, b]
transitions:
  - name: go
    from: a
    to: b
    steps:
      - name: fill
{step}        backfill:
          table: src
          key: id
          batch_size: {batch_size}
          statement: "{statement}"
{extra}        rollback: {{sql: "{rollback}"}}
"""
