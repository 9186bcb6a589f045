-- version 2: a batch size given to `resume` belongs to the run it resumed
alter table migrator.controls add column batch_size_run bigint;
update migrator.controls set batch_size = null;
