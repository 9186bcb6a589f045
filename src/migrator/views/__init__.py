"""What people read: the console, status and history, the dry run, runbooks, reports, diagrams."""
