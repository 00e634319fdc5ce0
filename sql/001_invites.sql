-- 001_invites.sql: the invites table.  Safe to run twice; records itself
-- in the ledger of 000_migrations.sql last.
--
-- The tenant leads every key, so every lookup stays inside one tenant and
-- the table can later be distributed by tenant (Citus).

CREATE TABLE IF NOT EXISTS invites (
    tenant      text        NOT NULL,
    id          uuid        NOT NULL,
    group_id    text        NOT NULL,
    email       text        NOT NULL,
    code        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),

    CONSTRAINT invites_pkey PRIMARY KEY (tenant, id),
    CONSTRAINT invites_group_email_key UNIQUE (tenant, group_id, email),
    CONSTRAINT invites_code_key UNIQUE (tenant, code)
);

-- List by group and by email, oldest first
CREATE INDEX IF NOT EXISTS invites_group_created_idx
    ON invites (tenant, group_id, created_at);
CREATE INDEX IF NOT EXISTS invites_email_created_idx
    ON invites (tenant, email, created_at);

INSERT INTO invites_migrations (version, name)
VALUES (1, '001_invites')
ON CONFLICT (version) DO NOTHING;
