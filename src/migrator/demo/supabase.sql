-- A Supabase-like project, written for migrator's demo and tests.
--
-- Roles: anon (no login), authenticated (a signed-in user), service_role (the
-- backend). Unlike a hosted Supabase project, service_role here does NOT bypass
-- row level security: the demo's backend writes as service_role claims under RLS,
-- which is how the IR-07 incident showed itself (a table with RLS on and no
-- policy refuses every write).
--
-- auth.jwt(), auth.role() and auth.uid() read the request's JWT claims from the
-- `request.jwt.claims` setting (a JSON object), or from the older one-setting-per-
-- claim form `request.jwt.claim.<name>`.

do $$
begin
  create role anon nologin noinherit;
exception when duplicate_object then null;
end $$;

do $$
begin
  create role authenticated nologin noinherit;
exception when duplicate_object then null;
end $$;

do $$
begin
  create role service_role nologin noinherit;
exception when duplicate_object then null;
end $$;

create schema if not exists auth;

create or replace function auth.jwt() returns jsonb
language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
$$;

create or replace function auth.role() returns text
language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    auth.jwt() ->> 'role'
  )
$$;

create or replace function auth.uid() returns uuid
language sql stable as $$
  select nullif(
    coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''), auth.jwt() ->> 'sub'),
    ''
  )::uuid
$$;

grant usage on schema auth to anon, authenticated, service_role;
grant execute on all functions in schema auth to anon, authenticated, service_role;

grant usage on schema public to anon, authenticated, service_role;
grant all on all tables in schema public to anon, authenticated, service_role;
grant all on all sequences in schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
