-- version 7: a fleet's ledger, when the fleet file names a `ledger:` database (else it is a
-- JSON file beside the fleet file). One row per fleet: which targets each of its rollouts
-- moved, from which phase, by which runs; `fleet rollback` reads it. The targets' own truth
-- stays in each target's schema migrator; this is only the fleet's record of what it did.
create table migrator.fleet_ledgers (
    fleet text primary key,
    document jsonb not null,
    updated_at timestamptz not null default now()
);
