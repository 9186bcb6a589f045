-- version 4: the audit trail is hash-chained (docs/concepts.md, "The audit trail").
-- Each event holds its place in its run's chain (seq, from 1), the hash of the event
-- before it (prev_hash, empty for the first) and its own hash, sha256 of prev_hash and
-- of its content; each run holds the length and the head (last hash) of its chain, so
-- that losing its last events shows too. Runs and events from before this version keep
-- NULL in all of these: they are "unchained", shown as such, never refused. A run made
-- from now on starts a chain: length 0, head empty.
alter table migrator.events add column seq bigint;
alter table migrator.events add column prev_hash bytea;
alter table migrator.events add column hash bytea;
alter table migrator.runs add column chain_length bigint;
alter table migrator.runs add column chain_head bytea;
alter table migrator.runs alter column chain_length set default 0;
alter table migrator.runs alter column chain_head set default ''::bytea;
