-- version 3: each run has an owner, the process that may change it (a token it made,
-- and who that is, for the message of a process that lost the run)
alter table migrator.runs add column owner uuid;
alter table migrator.runs add column owned_by text;
