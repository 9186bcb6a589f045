-- The scoring database of the incidents, written for migrator's demo.
--
-- An assessment session collects 24 answers (1..5). Scoring it gives eight function
-- strengths, sixteen type fits, a type code with a confidence, and a state overlay:
-- public.score_session(id) returns all of it as one ScoringPayload (the incident's shape).
--
-- The legacy ("exploded") tables hold a scored session as one row in `profiles` and
-- rows in scoring_results_types, scoring_results_functions and scoring_results_state.
-- The unified table `scoring_results` is not here: the scoring-results plan creates it.
--
-- Loaded after supabase.sql (roles anon, authenticated, service_role and auth.*).

create table public.scoring_config (
    id int primary key default 1 check (id = 1),
    scoring_version text not null,
    results_version text not null,
    fc_version text not null,
    updated_at timestamptz not null default now()
);
insert into public.scoring_config (scoring_version, results_version, fc_version)
values ('prism-v3', 'v1.2.1', 'v1.2');

create table public.assessment_sessions (
    id uuid primary key default gen_random_uuid(),
    user_id uuid,
    status text not null default 'in_progress'
        check (status in ('in_progress', 'completed', 'abandoned')),
    started_at timestamptz not null default now(),
    completed_at timestamptz
);
create index assessment_sessions_completed_at on public.assessment_sessions (completed_at)
    where status = 'completed';

create table public.assessment_responses (
    session_id uuid not null references public.assessment_sessions (id) on delete cascade,
    question_no int not null check (question_no between 1 and 24),
    answer int not null check (answer between 1 and 5),
    primary key (session_id, question_no)
);

-- Legacy tables.
create table public.profiles (
    id bigserial primary key,
    session_id uuid not null unique references public.assessment_sessions (id),
    user_id uuid,
    type_code text not null,
    confidence numeric(4, 3) not null,
    results_version text not null,
    share_token text not null default md5(random()::text),
    source text not null default 'app',  -- who wrote the row: app, or a plan's backfill
    created_at timestamptz not null default now()
);
create table public.scoring_results_types (
    session_id uuid not null references public.assessment_sessions (id),
    type_code text not null,
    fit numeric(4, 3) not null,
    share numeric(4, 3) not null,
    primary key (session_id, type_code)
);
create table public.scoring_results_functions (
    session_id uuid not null references public.assessment_sessions (id),
    func_code text not null,
    strength numeric(4, 3) not null,
    primary key (session_id, func_code)
);
create table public.scoring_results_state (
    session_id uuid primary key references public.assessment_sessions (id),
    overlay_band text not null,
    blocks jsonb not null
);

-- Forced-choice (FC) infrastructure: empty in the IR-07 broken state.
create table public.fc_blocks (
    id bigserial primary key,
    version text not null,
    block_no int not null,
    prompt text not null,
    unique (version, block_no)
);
create table public.fc_options (
    id bigserial primary key,
    block_id bigint not null references public.fc_blocks (id),
    option_code text not null,
    func_code text not null
);
create table public.fc_scores (
    session_id uuid not null references public.assessment_sessions (id),
    version text not null,
    fc_kind text not null,
    scores_json jsonb not null,
    created_at timestamptz not null default now(),
    primary key (session_id, version, fc_kind)
);

-- The sixteen types, each led by a dominant and an auxiliary function.
create table public.scoring_types (
    type_code text primary key,
    dominant text not null,
    auxiliary text not null
);
insert into public.scoring_types values
    ('INTJ', 'Ni', 'Te'), ('INTP', 'Ti', 'Ne'), ('ENTJ', 'Te', 'Ni'), ('ENTP', 'Ne', 'Ti'),
    ('INFJ', 'Ni', 'Fe'), ('INFP', 'Fi', 'Ne'), ('ENFJ', 'Fe', 'Ni'), ('ENFP', 'Ne', 'Fi'),
    ('ISTJ', 'Si', 'Te'), ('ISFJ', 'Si', 'Fe'), ('ESTJ', 'Te', 'Si'), ('ESFJ', 'Fe', 'Si'),
    ('ISTP', 'Ti', 'Se'), ('ISFP', 'Fi', 'Se'), ('ESTP', 'Se', 'Ti'), ('ESFP', 'Se', 'Fi');

-- The eight functions; question q measures function number 1 + (q - 1) % 8.
create function public.scoring_functions() returns text[]
language sql immutable as $$ select array['Ni', 'Ne', 'Ti', 'Te', 'Fi', 'Fe', 'Si', 'Se'] $$;

-- Scoring: sessions' answers -> their ScoringPayloads (jsonb), set-based so a whole
-- history scores in one statement.
create function public.score_sessions(p_sessions uuid[])
returns table (session_id uuid, payload jsonb)
language sql stable as $$
with wanted as (
    select distinct unnest(p_sessions) as id
),
-- One row per session: its answer count, mean, and the eight strengths in the order
-- of public.scoring_functions().
answered as (
    select r.session_id, count(*) as n, avg(r.answer) as mean,
           array[
               round((avg(r.answer) filter (where (r.question_no - 1) % 8 = 0) - 1) / 4.0, 3),
               round((avg(r.answer) filter (where (r.question_no - 1) % 8 = 1) - 1) / 4.0, 3),
               round((avg(r.answer) filter (where (r.question_no - 1) % 8 = 2) - 1) / 4.0, 3),
               round((avg(r.answer) filter (where (r.question_no - 1) % 8 = 3) - 1) / 4.0, 3),
               round((avg(r.answer) filter (where (r.question_no - 1) % 8 = 4) - 1) / 4.0, 3),
               round((avg(r.answer) filter (where (r.question_no - 1) % 8 = 5) - 1) / 4.0, 3),
               round((avg(r.answer) filter (where (r.question_no - 1) % 8 = 6) - 1) / 4.0, 3),
               round((avg(r.answer) filter (where (r.question_no - 1) % 8 = 7) - 1) / 4.0, 3)
           ]::numeric(4, 3)[] as strength
    from wanted w
    join public.assessment_responses r on r.session_id = w.id
    group by r.session_id
    having count(*) = 24
),
fits as (
    select a.session_id, t.type_code,
           round((2 * a.strength[array_position(public.scoring_functions(), t.dominant)]
                  + a.strength[array_position(public.scoring_functions(), t.auxiliary)])
                 / 3.0, 3)::numeric(4, 3) as fit
    from answered a cross join public.scoring_types t
),
shares as (
    select session_id, type_code, fit,
           round(fit / nullif(sum(fit) over (partition by session_id), 0), 3)
               ::numeric(4, 3) as share,
           row_number() over (partition by session_id order by fit desc, type_code) as rank
    from fits
),
scored as (
    select session_id,
           max(type_code) filter (where rank = 1) as type_code,
           least(1, greatest(0, round(0.5 + (max(fit) filter (where rank = 1)
                                             - coalesce(max(fit) filter (where rank = 2), 0))
                                            * 4, 3)))::numeric(4, 3) as confidence,
           jsonb_agg(jsonb_build_object('type_code', type_code, 'fit', fit, 'share', share)
                     order by type_code) as types
    from shares group by session_id
)
select s.id, jsonb_build_object(
    'version', c.scoring_version,
    'profile', jsonb_build_object('session_id', s.id, 'type_code', b.type_code,
                                  'confidence', b.confidence,
                                  'results_version', c.results_version),
    'types', b.types,
    'functions', (select jsonb_agg(jsonb_build_object('func_code', f.code,
                                                      'strength', a.strength[f.n])
                                   order by f.code)
                  from unnest(public.scoring_functions()) with ordinality f(code, n)),
    'state', jsonb_build_object(
        'overlay_band', case when a.mean < 2.5 then 'low' when a.mean < 3.5 then 'mid'
                             else 'high' end,
        'blocks', jsonb_build_object('answered', a.n, 'total', 24)),
    'session', jsonb_build_object('id', s.id, 'status', s.status),
    'results_version', c.results_version)
from answered a
join scored b on b.session_id = a.session_id
join public.assessment_sessions s on s.id = a.session_id
cross join public.scoring_config c
$$;

-- One session's ScoringPayload, or null when it has not answered every question.
create function public.score_session(p_session uuid) returns jsonb
language sql stable as $$
    select payload from public.score_sessions(array[p_session])
$$;

-- Writes a scored payload into the legacy tables (what the scoring function did
-- before the unified table; `source` says who wrote it). Nothing when the session
-- already has a profile.
create function public.write_legacy(p_payload jsonb, p_source text default 'app')
returns boolean
language sql volatile as $$
with profile as (
    insert into public.profiles (session_id, type_code, confidence, results_version, source)
    select (p_payload #>> '{profile,session_id}')::uuid,
           p_payload #>> '{profile,type_code}',
           (p_payload #>> '{profile,confidence}')::numeric,
           p_payload ->> 'results_version',
           p_source
    on conflict (session_id) do nothing
    returning session_id
),
types as (
    insert into public.scoring_results_types (session_id, type_code, fit, share)
    select profile.session_id, t ->> 'type_code', (t ->> 'fit')::numeric,
           (t ->> 'share')::numeric
    from profile, jsonb_array_elements(p_payload -> 'types') t
    returning 1
),
functions as (
    insert into public.scoring_results_functions (session_id, func_code, strength)
    select profile.session_id, f ->> 'func_code', (f ->> 'strength')::numeric
    from profile, jsonb_array_elements(p_payload -> 'functions') f
    returning 1
),
state as (
    insert into public.scoring_results_state (session_id, overlay_band, blocks)
    select profile.session_id, p_payload #>> '{state,overlay_band}',
           p_payload #> '{state,blocks}'
    from profile
    returning 1
)
-- Every data-modifying WITH runs to completion, whether or not it is read.
select exists (select 1 from profile)
$$;

-- Row level security as the staging project had it: the detail tables with the
-- permissive policies of the incident's security note, and `profiles` with RLS on and
-- no policy at all (IR-07: every write refused).
alter table public.scoring_results_types enable row level security;
alter table public.scoring_results_functions enable row level security;
alter table public.scoring_results_state enable row level security;
alter table public.profiles enable row level security;
create policy "Allow all on scoring_results_types" on public.scoring_results_types
    for all to public using (true) with check (true);
create policy "Allow all on scoring_results_functions" on public.scoring_results_functions
    for all to public using (true) with check (true);
create policy "Allow all on scoring_results_state" on public.scoring_results_state
    for all to public using (true) with check (true);

alter table public.assessment_sessions enable row level security;
alter table public.assessment_responses enable row level security;
create policy "Service role manages sessions" on public.assessment_sessions
    for all to public
    using (auth.role() = 'service_role') with check (auth.role() = 'service_role');
create policy "Service role manages responses" on public.assessment_responses
    for all to public
    using (auth.role() = 'service_role') with check (auth.role() = 'service_role');

grant all on all tables in schema public to anon, authenticated, service_role;
grant all on all sequences in schema public to anon, authenticated, service_role;
grant execute on all functions in schema public to anon, authenticated, service_role;
