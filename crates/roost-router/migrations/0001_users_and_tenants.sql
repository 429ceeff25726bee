-- Users and their tenants (one Fly app + volume + machine per user).
--
-- Portable SQL: the same file runs on SQLite and PostgreSQL through sqlx's `Any` driver, so it
-- sticks to TEXT and BIGINT columns. Timestamps are milliseconds since the Unix epoch (BIGINT):
-- the `Any` driver has no portable timestamp type, and integers compare and index the same way
-- on both databases.

CREATE TABLE users (
    -- The `sub` claim of the user's access tokens.
    id          TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL
);

CREATE TABLE tenants (
    -- Stable tenant id: the `tenant` claim of the user's tokens and the value of every Fly
    -- resource's `metadata.roost_tenant`. Never changes, even when the app name does.
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL UNIQUE REFERENCES users (id),
    -- pending, app_created, volume_created, machine_created, ready, suspended, failed,
    -- deleting, deleted (see src/tenants/state.rs).
    state             TEXT NOT NULL,
    -- For `failed` and `suspended`: the state to return to when an operator retries/resumes.
    resume_state      TEXT,
    -- The Fly app name chosen for this tenant. Fly app names are global: when the first choice
    -- is taken by somebody else, provisioning picks a new suffix and records it here.
    app_name          TEXT NOT NULL UNIQUE,
    -- What provisioning learned from Fly.
    app_id            TEXT,
    volume_id         TEXT,
    machine_id        TEXT,
    region            TEXT,
    image             TEXT,
    -- Why the last step failed (operator-visible; never shown verbatim to end users).
    last_error        TEXT,
    -- Failed attempts at the current step since the last success.
    attempts          BIGINT NOT NULL DEFAULT 0,
    -- The provisioning claim: which router process drives this tenant, until when. Lets several
    -- routers share one database without two of them creating Fly resources for one tenant.
    lease_owner       TEXT,
    lease_expires_at  BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    ready_at          BIGINT
);

CREATE INDEX tenants_by_state ON tenants (state);
