"""Lint: what `migrator validate` warns about in a plan's steps and the SQL they send,
each finding with a stable rule id at the FILE:LINE:COL of the text it is about."""
