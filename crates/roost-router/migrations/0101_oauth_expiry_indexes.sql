-- Expired codes and refresh tokens are swept when new ones are written (src/oauth/store.rs);
-- these indexes keep that sweep from scanning the tables.
CREATE INDEX oauth_codes_by_expiry ON oauth_codes (expires_at);
CREATE INDEX oauth_refresh_tokens_by_expiry ON oauth_refresh_tokens (expires_at);
CREATE INDEX signin_sessions_by_expiry ON signin_sessions (expires_at);
CREATE INDEX oauth_pending_by_expiry ON oauth_pending (expires_at);
