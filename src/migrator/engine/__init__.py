"""Running plans: the runner, one transition's run, its state machine, checks and locks."""
