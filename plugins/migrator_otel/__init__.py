"""The `otel` plugin (`migrator[otel]`): a span per command, run, step, check and undo, under
the `TRACEPARENT` of the CI job or orchestrator."""
