-- 003_lifecycle.sql: an invite's lifecycle (pending, accepted, revoked),
-- its expiry and its metadata, and indexes for keyset pagination.  Safe to
-- run twice; records itself in the ledger of 000_migrations.sql last.
--
-- Upgrades a table that holds rows: they become pending invites that never
-- expire.  "expired" is not stored: the module derives it from a pending
-- invite's expires_at.  The indexes are built in the migration's
-- transaction (not CONCURRENTLY), which holds off writes to invites while
-- they build.

-- a constant default: existing rows read 'pending' without a table rewrite
ALTER TABLE invites
    ADD COLUMN IF NOT EXISTS status      text        NOT NULL DEFAULT 'pending',
    ADD COLUMN IF NOT EXISTS expires_at  timestamptz,
    ADD COLUMN IF NOT EXISTS accepted_at timestamptz,
    ADD COLUMN IF NOT EXISTS revoked_at  timestamptz,
    ADD COLUMN IF NOT EXISTS metadata    jsonb;

-- by name, and only once: a second run must not add a second constraint
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                    WHERE conrelid = 'invites'::regclass
                      AND conname = 'invites_status_check') THEN
        ALTER TABLE invites ADD CONSTRAINT invites_status_check
            CHECK (status IN ('pending', 'accepted', 'revoked'));
    END IF;
END
$$;

-- List by group and by email a page at a time: the equalities, then the
-- page key (created_at, id), so a later page starts at an index bound
CREATE INDEX IF NOT EXISTS invites_group_page_idx
    ON invites (tenant, group_id, created_at, id);
CREATE INDEX IF NOT EXISTS invites_email_page_idx
    ON invites (tenant, email, created_at, id);

-- the page indexes serve every lookup these did
DROP INDEX IF EXISTS invites_group_created_idx;
DROP INDEX IF EXISTS invites_email_created_idx;

INSERT INTO invites_migrations (version, name)
VALUES (3, '003_lifecycle')
ON CONFLICT (version) DO NOTHING;
