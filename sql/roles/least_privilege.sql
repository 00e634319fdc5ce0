-- least_privilege.sql: a login role for nginx that can do what the module
-- does and nothing more.  Safe to run twice.
--
-- Not a migration: it lives outside sql/*.sql because it creates a role,
-- which the owner role `invites` that applies the migrations cannot do.
-- Run it after the migrations, in the invites database, as a superuser (or
-- as a role with CREATEROLE that owns the tables):
--
--     psql -d invites -U postgres -f sql/roles/least_privilege.sql
--     psql -d invites -U postgres -v app_role=nginx_invites \
--          -f sql/roles/least_privilege.sql
--
-- The role is made LOGIN without a password: set one (\password
-- invites_app) or let pg_hba.conf authenticate it (cert, peer, scram).
-- Then: invites_db "host=... dbname=invites user=invites_app ...".
--
-- What the module runs, and so what the role gets:
--   invites            SELECT, INSERT, DELETE (Create, Read, List, Delete;
--                      INSERT ... ON CONFLICT DO NOTHING needs no UPDATE);
--                      with sql/003_lifecycle.sql, UPDATE of the columns an
--                      invite's lifecycle changes only (code, status,
--                      expires_at, accepted_at, revoked_at, metadata), never
--                      its tenant, id, group_id, email or created_at
--   invites_api_keys   SELECT on tenant, key_hash and revoked_at only (the
--                      key lookup of "invites_auth key"); not the labels,
--                      and no writes: keys are managed by the owner role
--   invites_migrations SELECT on version only (the schema check a new
--                      connection makes); migrations are the owner's
-- No other UPDATE, no TRUNCATE, REFERENCES or TRIGGER anywhere, no DDL, and
-- the key functions are taken from PUBLIC so that only their owner runs them.

\set ON_ERROR_STOP on

\if :{?app_role}
\else
\set app_role invites_app
\endif

BEGIN;

SELECT format('CREATE ROLE %I LOGIN', :'app_role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_role')
\gexec

-- whatever it held before, the role holds exactly this afterwards
SELECT format('REVOKE ALL ON TABLE %s FROM %I', t, :'app_role')
  FROM unnest(ARRAY['invites', 'invites_api_keys', 'invites_keys',
                     'invites_migrations']) AS t
 WHERE to_regclass(t) IS NOT NULL
\gexec

SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(),
              :'app_role')
\gexec

SELECT format('GRANT USAGE ON SCHEMA %I TO %I', n.nspname, :'app_role')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid = to_regclass('invites')
\gexec

GRANT SELECT, INSERT, DELETE ON TABLE invites TO :"app_role";

-- only where sql/003_lifecycle.sql was applied: renewing, accepting and
-- revoking an invite write these columns, and no others
SELECT format('GRANT UPDATE (code, status, expires_at, accepted_at, '
              'revoked_at, metadata) ON TABLE invites TO %I', :'app_role')
 WHERE (SELECT count(*) FROM pg_attribute
         WHERE attrelid = to_regclass('invites') AND NOT attisdropped
           AND attname IN ('status', 'expires_at', 'accepted_at',
                           'revoked_at', 'metadata')) = 5
\gexec

-- only where sql/002_api_keys.sql was applied
SELECT format('GRANT SELECT (tenant, key_hash, revoked_at) '
              'ON TABLE invites_api_keys TO %I', :'app_role')
 WHERE to_regclass('invites_api_keys') IS NOT NULL
\gexec

-- where sql/000_migrations.sql was applied: without it, the module counts
-- the schema as version 0 and serves nothing
SELECT format('GRANT SELECT (version) ON TABLE invites_migrations TO %I',
              :'app_role')
 WHERE to_regclass('invites_migrations') IS NOT NULL
\gexec

SELECT format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', p.oid::regprocedure)
  FROM pg_proc p
 WHERE p.proname IN ('invites_key_create', 'invites_key_revoke')
   AND p.pronamespace = to_regnamespace(current_schema())
\gexec

COMMIT;
