"""Reaching the database: targets and DSNs, reading its errors, reconnecting, SQL text."""
