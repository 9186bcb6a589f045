"""What the fuzz tests draw plans from: two valid plans written like the plan format's examples,
the mutations real edits make to them, and YAML keys, values and `${...}` templates.

Shared by tests/unit/test_loader_fuzz.py, tests/unit/test_yaml_parsers.py and
tests/e2e/test_hostile_input.py.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any

import yaml
from hypothesis import strategies as st

PHASED = """\
plan: scoring-results-unification
description: Move scoring data from the exploded legacy tables to scoring_results
vars: {scoring_version: v1.2.1, batch: 5000}
phases: [legacy, dual_write, unified_only]
transitions:
  - name: start_dual_write
    from: legacy
    to: dual_write
    risk: low
    pre_checks:
      - name: the legacy table is there
        query: select count(*) from pg_tables where tablename = 'profiles'
        expect: 1
    steps:
      - name: create scoring_results
        sql: create table if not exists scoring_results (session_id bigint primary key)
        lock_timeout: 5s
        rollback:
          sql: drop table scoring_results
      - name: start writing the unified table
        flag: {name: WRITE_UNIFIED, value: true}
      - name: the service role may write scoring_results
        policy:
          table: public.scoring_results
          name: service_writes
          command: insert
          to: [service_role]
          with_check: "true"
      - name: backfill unified payloads
        backfill:
          table: profiles
          key: session_id
          batch_size: 5000
          throttle: 100ms
          statement: |
            insert into scoring_results (session_id, version)
            select p.session_id, :scoring_version from profiles p
            where p.session_id > :lo and p.session_id <= :hi
            on conflict (session_id) do nothing
        rollback: irreversible
    post_checks:
      - name: flag reads back true
        flag_is: {name: WRITE_UNIFIED, value: true}
      - query: select count(*) from scoring_results
        expect: ">= 0"
        wait: {timeout: 5m, interval: 10s}
  - name: cutover
    from: dual_write
    to: unified_only
    risk: medium
    approval: true
    pre_checks:
      - name: every completed session has a unified row
        query: |
          select count(*) from assessment_sessions s
          left join scoring_results r on r.session_id = s.id
          where s.status = 'completed' and r.session_id is null
        expect: 0
      - name: same rows both ways
        query: select session_id from scoring_results order by 1
        expect: {equals_query: select session_id from profiles order by 1}
        on_fail: warn
    steps:
      - name: stop writing the exploded tables
        flag: {name: WRITE_EXPLODED, value: false}
    post_checks:
      - name: flag reads back false
        flag_is: {name: WRITE_EXPLODED, value: false}
  - name: back_to_dual_write
    from: unified_only
    to: dual_write
    steps:
      - flag: {name: WRITE_EXPLODED, value: true}
    post_checks:
      - flag_is: {name: WRITE_EXPLODED, value: true}
"""

HOTFIX = """\
plan: ir-07-profiles-rls
kind: hotfix
description: profiles has RLS enabled but no policy, so every write fails
vars: {api: "https://api.example.com"}
risk: high
approval: true
pre_checks:
  - name: profiles has RLS on
    query: select relrowsecurity from pg_class where relname = 'profiles'
    expect: true
  - name: writes are denied today
    rls_probe:
      as_role: authenticated
      claims: {sub: 00000000-0000-0000-0000-000000000001, role: authenticated}
      sql: insert into profiles (id) values (auth.uid())
    expect: denied
steps:
  - name: owners may write their profile
    policy:
      table: public.profiles
      name: profiles_owner_write
      command: all
      to: authenticated
      using: id = auth.uid()
      with_check: id = auth.uid()
  - name: keep RLS on
    rls: {table: public.profiles}
  - name: turn profile writes back on
    flag: {name: PROFILE_WRITES, value: true}
  - name: redeploy the edge function
    manual: supabase functions deploy profile-writer
  - name: tell the status page
    http:
      method: POST
      url: ${api}/status
      headers: {Authorization: "Bearer ${env:STATUS_TOKEN}"}
      json: {incident: IR-07, state: mitigated}
post_checks:
  - policy_exists: {table: public.profiles, name: profiles_owner_write, command: ALL}
  - name: owners can write again
    rls_probe:
      as_role: authenticated
      claims: {sub: 00000000-0000-0000-0000-000000000001}
      sql: insert into profiles (id) values (auth.uid())
    expect: allowed
  - name: flag reads back true
    flag_is: {name: PROFILE_WRITES, value: true}
  - name: the API answers
    http: {url: "${api}/health"}
    expect: {status: 200, json: {ok: true}}
    wait: {timeout: 2m, interval: 10s}
    on_fail: warn
"""

SEEDS = [PHASED, HOTFIX]


# -- what mutations draw from -------------------------------------------------------------

PLAN_KEYS = [
    "plan", "kind", "description", "vars", "phases", "transitions", "name", "from", "to",
    "risk", "approval", "pre_checks", "steps", "post_checks", "sql", "flag", "policy", "rls",
    "backfill", "manual", "http", "query", "flag_is", "policy_exists", "rls_probe", "expect",
    "rollback", "timeout", "lock_timeout", "retries", "on_fail", "wait", "soak", "autocommit",
    "table", "key", "statement", "batch_size", "throttle", "value", "command", "using",
    "with_check", "as_role", "claims", "url", "method", "json", "equals_query", "from_",
]  # fmt: skip

TRICKY_STRINGS = [
    "${scoring_version}", "${api}", "${ scoring_version }", "${env:HOME}", "${env:}",
    "${undeclared}", "${}", "${1bad}", "${a-b}", "$${scoring_version}", "${api", ":name",
    ":lo", ":hi", "select :scoring_version", "> 5", ">= many", "=> 5", "== ok", "!= null",
    "5m", "0s", "-1s", "1e400", "irreversible", "irreversibel", "hotfix", "phased",
    "legacy", "dual_write", "unified_only", "allowed", "denied", "ALL", "true", "~", "",
    " ", "2025-09-17", "0x1F", ".nan", "-.inf", "'", '"', "{", "[", "&a", "*a", "!!str",
    "- item", "key: value", "#comment", "|", ">",
]  # fmt: skip


# Any character: control characters a person pastes must be problems, not crashes.
safe_chars = st.characters()
plain_text = st.text(alphabet=safe_chars, max_size=20)
keys = st.one_of(
    st.sampled_from(PLAN_KEYS),
    st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=12),
)
strings = st.one_of(
    st.sampled_from(TRICKY_STRINGS),
    plain_text,
    st.builds("{}{}".format, plain_text, st.sampled_from(TRICKY_STRINGS)),
)
# Integers stay within float range: see test_a_huge_integer_duration_is_a_problem.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),
    strings,
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(keys, children, max_size=3),
    ),
    max_leaves=8,
)


def as_flow_yaml(value: Any) -> str:
    """`value` written as one inline YAML value (flow style)."""
    dumped = yaml.safe_dump([value], default_flow_style=True, width=10**9, allow_unicode=True)
    return dumped.strip()[1:-1]


yaml_values = st.one_of(values.map(as_flow_yaml), st.sampled_from(TRICKY_STRINGS))

Mutation = Callable[[st.DrawFn, str], str]
_KEY_LINE = re.compile(r"^(\s*(?:- )?[A-Za-z_]+:)(.*)$")


def insert_key(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    at = draw(st.integers(0, len(lines)))
    indents = sorted({len(line) - len(line.lstrip(" ")) for line in lines})
    indent = " " * draw(st.sampled_from(indents))
    dash = draw(st.sampled_from(["", "- "]))
    lines.insert(at, f"{indent}{dash}{draw(keys)}: {draw(yaml_values)}")
    return "\n".join(lines)


def replace_value(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if _KEY_LINE.match(line)]
    if not candidates:
        return text
    i = draw(st.sampled_from(candidates))
    match = _KEY_LINE.match(lines[i])
    assert match is not None
    lines[i] = f"{match.group(1)} {draw(yaml_values)}"
    return "\n".join(lines)


def truncate(draw: st.DrawFn, text: str) -> str:
    return text[: draw(st.integers(0, len(text)))]


def reindent(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    i = draw(st.integers(0, len(lines) - 1))
    body = lines[i].lstrip(" ")
    indent = len(lines[i]) - len(body)
    prefix = draw(
        st.one_of(
            st.integers(-4, 4).map(lambda delta: " " * max(0, indent + delta)),
            st.just("\t" + " " * indent),
        )
    )
    lines[i] = prefix + body
    return "\n".join(lines)


def insert_characters(draw: st.DrawFn, text: str) -> str:
    at = draw(st.integers(0, len(text)))
    pasted = draw(
        st.one_of(
            st.text(alphabet=safe_chars, min_size=1, max_size=5),
            st.sampled_from(["\t", "\r", "\r\n", "\x85", "\u2028", "\ufeff", "\u00a0", "🙂"]),
        )
    )
    return text[:at] + pasted + text[at:]


def duplicate_line(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    i = draw(st.integers(0, len(lines) - 1))
    lines.insert(draw(st.integers(i, len(lines))), lines[i])
    return "\n".join(lines)


def delete_line(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    del lines[draw(st.integers(0, len(lines) - 1))]
    return "\n".join(lines)


MUTATIONS: list[Mutation] = [
    insert_key,
    replace_value,
    truncate,
    reindent,
    insert_characters,
    duplicate_line,
    delete_line,
]


@st.composite
def mutated_plans(draw: st.DrawFn, mutations: list[Mutation] = MUTATIONS) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        text = draw(st.sampled_from(mutations))(draw, text)
    return text


# -- `${...}` templates ------------------------------------------------------------------

NAMES = ["a", "b", "version", "host", "_x", "HOME"]


no_braces = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="${}"), max_size=8)
well_formed_refs = st.one_of(
    st.sampled_from(NAMES).map("${{{}}}".format),
    st.sampled_from(NAMES).map("${{ {} }}".format),
    st.sampled_from(NAMES).map("${{env:{}}}".format),
)
malformed_refs = st.sampled_from(["${}", "${1x}", "${env:}", "${a b}", "${env:1}", "${-}"])
templates = st.lists(st.one_of(no_braces, well_formed_refs, malformed_refs), max_size=6).map(
    "".join
)
variable_maps = st.dictionaries(st.sampled_from(NAMES), no_braces, max_size=4)
