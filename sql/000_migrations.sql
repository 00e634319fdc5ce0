-- 000_migrations.sql: the ledger of the migrations a database has.  Safe
-- to run twice.
--
-- Every file in sql/ records itself here with its last statement, so a
-- recorded migration ran to its end, whether bin/invites-migrate applied it
-- or psql.  The module reads the highest version when it connects and
-- serves nothing from a schema older than it needs.  Versions are
-- cumulative: migration N expects every one before it.
--
-- A new migration is NNN_name.sql, safe to run twice, with no BEGIN or
-- COMMIT of its own and nothing that cannot run in a transaction (the tool
-- wraps each file in one), ending with
--     INSERT INTO invites_migrations (version, name) VALUES (NNN, 'NNN_name')
--     ON CONFLICT (version) DO NOTHING;
-- and, if the module needs it, NGX_HTTP_INVITES_SCHEMA* raised to NNN in
-- ngx_http_invites_module/ngx_http_invites_schema.h.

CREATE TABLE IF NOT EXISTS invites_migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT invites_migrations_version_check CHECK (version >= 0)
);

INSERT INTO invites_migrations (version, name)
VALUES (0, '000_migrations')
ON CONFLICT (version) DO NOTHING;
