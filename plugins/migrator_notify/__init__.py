"""The `notify` plugin: a plan's `notify:` receivers (a webhook as JSON, Slack) told when a
run starts, succeeds, fails, fails its undo, needs an approval or is interrupted."""
