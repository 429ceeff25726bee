-- The OAuth authorization server and browser sign-in (src/oauth, src/signin).
--
-- Same portable dialect as 0001: TEXT and BIGINT only, milliseconds since the Unix epoch.
-- Every bearer secret (codes, refresh tokens, session ids, sign-in states) is stored as the
-- hex SHA-256 of its value: they are 256-bit random strings, so a fast hash is enough, and a
-- leaked database row cannot be replayed.

-- Clients registered through Dynamic Client Registration (RFC 7591). `metadata` is the JSON
-- of the router's `Client` value; `secret_sha256` lives inside it for confidential clients.
CREATE TABLE oauth_clients (
    client_id    TEXT PRIMARY KEY,
    metadata     TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

-- Authorization requests between /authorize and the user's sign-in/consent. `request` is
-- the validated request as JSON. `csrf` protects the sign-in form posted for it.
CREATE TABLE oauth_pending (
    id           TEXT PRIMARY KEY,
    request      TEXT NOT NULL,
    csrf         TEXT NOT NULL,
    expires_at   BIGINT NOT NULL
);

-- A grant: everything issued from one authorization code (its refresh-token chain). Revoking
-- the family kills every refresh token in it.
CREATE TABLE oauth_families (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    scope        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);

CREATE TABLE oauth_codes (
    code_hash      TEXT PRIMARY KEY,
    family_id      TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    resource       TEXT NOT NULL,
    expires_at     BIGINT NOT NULL,
    -- Set by the one redemption that wins; a second redemption finds it set (replay).
    used_at        BIGINT
);

CREATE TABLE oauth_refresh_tokens (
    token_hash   TEXT PRIMARY KEY,
    family_id    TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    -- Set when the token is rotated; a use after `used_at + grace` is a reuse.
    used_at      BIGINT
);
CREATE INDEX oauth_refresh_tokens_by_family ON oauth_refresh_tokens (family_id);

-- Remembered consent: user + client, with the scopes granted (space-separated).
CREATE TABLE oauth_consents (
    user_id      TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    scope        TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- Browser sessions at the router (the `__Host-roost-session` cookie).
CREATE TABLE signin_sessions (
    id_hash      TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    expires_at   BIGINT NOT NULL
);

-- Upstream sign-ins in flight: state → what the callback needs. Single use, short-lived.
CREATE TABLE signin_flows (
    state_hash     TEXT PRIMARY KEY,
    provider       TEXT NOT NULL,
    nonce          TEXT NOT NULL,
    pkce_verifier  TEXT NOT NULL,
    pending_id     TEXT NOT NULL,
    expires_at     BIGINT NOT NULL
);

-- Local accounts (argon2id PHC strings).
CREATE TABLE local_accounts (
    username       TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

-- Upstream identities: provider + subject → roost user. `provider` is `oidc:<id>`, `github`
-- or `local`.
CREATE TABLE identities (
    provider     TEXT NOT NULL,
    subject      TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    email        TEXT,
    name         TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (provider, subject)
);
