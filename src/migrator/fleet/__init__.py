"""Fleets: one plan across many databases, wave by wave (SPEC.md, "Fleets").

`model.py` reads the fleet file, `targets.py` resolves its targets (a list, a query on a
control database, a file) and places each in its wave, `ledger.py` keeps the fleet's own
record (which targets a rollout moved: a JSON file beside the fleet file, or a table in a
`ledger:` database), `child.py` runs one `migrator` command for one target as a process of
its own, and `rollout.py` runs a wave of targets `parallel` at a time, retrying exit 4 and
5 and stopping at `max_failures`. Each target keeps its own truth in its own `migrator`
schema; the ledger only says which of them this fleet moved.
"""
