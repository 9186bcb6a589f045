"""Rehearsal: every transition forward, back and forward again on a scratch copy."""
