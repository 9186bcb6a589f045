"""What a notification says, built from the hooks' dataclasses alone: masked with the
command's secrets, long values cut, a check's differences at most ten, Slack's limits."""

from __future__ import annotations

import re
from typing import Any

from migrator.plugin import CommandInfo, RunEvent, RunInfo
from migrator_notify.document import DIFFERENCES, LONGEST, Facts, json_document, slack_message


def facts(reason: str, differences: list[Any]) -> Facts:
    command = CommandInfo(
        command="apply",
        plan="orders",
        plan_file="plans/orders.yaml",
        operator="dora",
        database="db:5432/shop",
        host="ci-7",
        mask=lambda text: text.replace("s3cret-token", "***"),
    )
    run = RunInfo(command, 12, "split", "v1", "v2")
    state = RunEvent("state", "undone", None, {"from": "undoing", "reason": reason})
    check = {"name": "kept", "phase": "post", "actual": "s3cret-token", "expected": 1}
    return Facts(run, "undone", state, [{**check, "differences": differences}], None, None)


def test_every_string_is_masked_and_long_ones_cut() -> None:
    reason = "s3cret-token " + "x" * (3 * LONGEST)
    differences = [{"only_in": "query", "key": [{"name": "id", "value": n}]} for n in range(25)]
    document = json_document("run_failed", facts(reason, differences))
    assert "s3cret" not in str(document)
    assert document["reason"].startswith("*** x") and len(document["reason"]) == LONGEST
    assert document["reason"].endswith("…")
    [check] = document["checks"]
    assert check["actual"] == "***"
    assert len(check["differences"]) == DIFFERENCES + 1
    assert check["differences"][-1] == f"... {25 - DIFFERENCES} more"
    assert document["summary"].startswith(
        "migrator apply: plan orders, run 12 (split: v1 -> v2) failed (undone): *** x"
    )


def test_slack_keeps_within_its_limits() -> None:
    differences = [{"only_in": "equals_query", "key": [{"name": "id", "value": 4}]}]
    message = slack_message(json_document("run_failed", facts("y" * 5000, differences)))
    header, fields, *sections, context = message["blocks"]
    assert header["type"] == "header" and len(header["text"]["text"]) <= 150
    assert len(fields["fields"]) <= 10
    assert all(len(s["text"]["text"]) <= 3000 for s in sections)
    assert any("id 4: only in equals_query" in s["text"]["text"] for s in sections)
    assert context["elements"][0]["text"].startswith("plans/orders.yaml · ")


def _mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    texts = [message["text"]]
    for block in message["blocks"]:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"  # Slack shows it as written
            continue
        for item in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if item is not None:
                assert item["type"] == "mrkdwn"
                texts.append(item["text"])
    return texts


def test_slack_texts_are_escaped_never_a_ping_a_link_or_a_broken_code_block() -> None:
    hostile = "fix <!channel> <https://evil.example/login|approve here>"
    error = "'<!here> see <https://evil.example|runbook> & ```'"
    differences = [{"only_in": "query", "key": [{"name": "id", "value": "1```\n*bold* <!here>"}]}]
    base = facts("because <!everyone> & more", differences)
    check = {**base.checks[0], "name": "a ``` name", "detail": "<https://evil.example|x>"}
    hostile_facts = Facts(
        base.run, "undone", base.state, [check], {"name": hostile, "error": error}, None
    )
    message = slack_message(json_document("run_failed", hostile_facts))
    texts = _mrkdwn_texts(message)
    for text in texts:
        assert "<" not in text and ">" not in text, text  # no <!channel>, no <url|label>
        assert "&" not in re.sub("&(amp|lt|gt);", "", text), text
    joined = "\n".join(texts)
    assert "&lt;!channel&gt; &lt;https://evil.example/login|approve here&gt;" in joined
    assert "&lt;!here&gt; see &lt;https://evil.example|runbook&gt; &amp;" in joined
    check_text = next(t for t in texts if t.startswith("*Check*"))
    name, rest = check_text.removeprefix("*Check* `").split("`", 1)
    assert name.startswith("a ") and name.endswith(" name")  # its backticks neutralised
    assert rest.count("```") == 2  # the differences' block opens and closes once
    step_text = next(t for t in texts if t.startswith("*Step*"))
    assert step_text.count("`") == 2  # only the step's name's span
