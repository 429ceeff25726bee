-- Issued access tokens, by `jti`, so they can be revoked before they expire (src/auth/revoked.rs).
--
-- A row is written when a token is issued and swept once it has expired. Revoking a family (a
-- replayed code, a reused refresh token, RFC 7009 on its refresh token) stamps `revoked_at` on
-- its tokens; a client revoking one access token stamps that one. Every router polls for
-- rows revoked since its last look, so a revocation reaches routers that share the database.
-- `family_id` is '' for a token revoked without a row of its own (issued before this table).
CREATE TABLE oauth_access_tokens (
    jti          TEXT PRIMARY KEY,
    family_id    TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
-- One index per lookup: a family's tokens, the routers' poll, the expiry sweep.
CREATE INDEX oauth_access_tokens_by_family ON oauth_access_tokens (family_id);
CREATE INDEX oauth_access_tokens_by_revoked_at ON oauth_access_tokens (revoked_at);
CREATE INDEX oauth_access_tokens_by_expiry ON oauth_access_tokens (expires_at);
