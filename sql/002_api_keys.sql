-- 002_api_keys.sql: API keys for "invites_auth key".  Safe to run twice;
-- records itself in the ledger of 000_migrations.sql last.
--
-- A key is shown once, by invites_key_create(); only its SHA-256 is kept.
-- The module looks a key up by that hash and takes the tenant from its row.

CREATE TABLE IF NOT EXISTS invites_api_keys (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant      text        NOT NULL,
    label       text        NOT NULL DEFAULT '',
    key_hash    text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,

    CONSTRAINT invites_api_keys_hash_key UNIQUE (key_hash),
    CONSTRAINT invites_api_keys_tenant_check
        CHECK (octet_length(tenant) <= 255)
);

CREATE INDEX IF NOT EXISTS invites_api_keys_tenant_idx
    ON invites_api_keys (tenant, id);


-- A new key for a tenant: "inv_" and 43 base64url characters (244 random
-- bits from two UUID v4s, which PostgreSQL draws from its strong random
-- source).  The key itself is returned once and stored nowhere.

CREATE OR REPLACE FUNCTION invites_key_create(tenant text, label text DEFAULT '')
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    key text;
BEGIN
    IF tenant IS NULL OR octet_length(tenant) > 255 THEN
        RAISE EXCEPTION 'a tenant is at most 255 bytes';
    END IF;

    key := 'inv_' || rtrim(translate(encode(uuid_send(gen_random_uuid())
                                            || uuid_send(gen_random_uuid()),
                                            'base64'),
                                     '+/', '-_'), '=');

    INSERT INTO invites_api_keys (tenant, label, key_hash)
    VALUES (tenant, coalesce(label, ''),
            encode(sha256(convert_to(key, 'UTF8')), 'hex'));

    RETURN key;
END
$$;


-- Revokes a key; true if it was active.  The module notices within
-- invites_auth_cache_ttl.

CREATE OR REPLACE FUNCTION invites_key_revoke(key_id bigint)
RETURNS boolean
LANGUAGE sql
AS $$
    UPDATE invites_api_keys SET revoked_at = now()
     WHERE id = key_id AND revoked_at IS NULL
    RETURNING true;
$$;


-- The keys, without their hashes.

CREATE OR REPLACE VIEW invites_keys AS
    SELECT id, tenant, label, created_at, revoked_at
      FROM invites_api_keys;


INSERT INTO invites_migrations (version, name)
VALUES (2, '002_api_keys')
ON CONFLICT (version) DO NOTHING;
