-- version 1: the schema as SPEC.md describes it
create schema if not exists migrator;
create table migrator.schema_version (
    version int not null,
    upgraded_at timestamptz not null default now()
);
create table migrator.runs (
    id bigserial primary key,
    plan text not null,
    transition text not null,
    from_phase text not null,
    to_phase text not null,
    status text not null,
    operator text not null,
    host text not null,
    pid int not null,
    plan_checksum text not null,
    plan_file text,
    reverts bigint references migrator.runs (id),
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    error text
);
create index runs_plan on migrator.runs (plan, id desc);
create table migrator.plan_state (
    plan text primary key,
    phase text not null,
    updated_at timestamptz not null default now(),
    last_run bigint references migrator.runs (id)
);
create table migrator.events (
    id bigserial primary key,
    run_id bigint not null references migrator.runs (id),
    at timestamptz not null default clock_timestamp(),
    step text,
    kind text not null,
    status text not null,
    detail jsonb not null default '{}'
);
create index events_run on migrator.events (run_id, id);
create table migrator.checkpoints (
    run_id bigint not null references migrator.runs (id),
    step text not null,
    position jsonb,
    rows_done bigint not null default 0,
    batches_done bigint not null default 0,
    statement_checksum text not null,
    updated_at timestamptz not null default now(),
    primary key (run_id, step)
);
create table migrator.flags (
    name text primary key,
    value jsonb not null,
    updated_at timestamptz not null default now(),
    updated_by text
);
create table migrator.locks (
    plan text primary key,
    run_id bigint,
    operator text not null,
    host text not null,
    pid int not null,
    backend_pid int not null,
    acquired_at timestamptz not null default now()
);
create table migrator.controls (
    plan text primary key,
    paused boolean not null default false,
    batch_size int,
    updated_at timestamptz not null default now(),
    updated_by text
);
