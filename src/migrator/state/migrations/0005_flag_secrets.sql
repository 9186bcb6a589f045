-- version 5: a flag set from a secret (`${env:...}`) stays masked when it is read back
-- later, by a run that does not have the secret; and what the undo of a step that
-- changed such a flag puts back is kept here, in full, never in the audit trail.
create table migrator.secret_flags (
    store text not null,
    name text not null,
    marked_at timestamptz not null default now(),
    primary key (store, name)
);
create table migrator.kept_flag_values (
    id bigserial primary key,
    run_id bigint references migrator.runs (id),
    store text not null,
    name text not null,
    existed boolean not null,
    previous jsonb,
    previous_secret boolean not null,
    value jsonb not null,
    value_secret boolean not null,
    kept_at timestamptz not null default now()
);
