-- version 6: how far a long step (a backfill) is, for `migrator status` from another
-- terminal. One row per step of a run, written by the process running it (at most about
-- once a second, beside its work, never inside a batch's transaction): rows done of the
-- total, rows written, its streams, what it waits for, and the recent samples the rate
-- and the time left are computed from. A stale row (its run no longer live) is how far
-- the step got.
create table migrator.progress (
    run_id bigint not null references migrator.runs (id),
    step text not null,
    rows_done bigint not null default 0,
    rows_total bigint,
    estimated boolean not null default false,
    rows_written bigint,
    streams integer,
    waiting text not null default '',
    samples jsonb not null default '[]'::jsonb,
    started_at timestamptz not null default now(),
    last_batch_at timestamptz,
    updated_at timestamptz not null default now(),
    primary key (run_id, step)
);
