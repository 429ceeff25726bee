-- Wrong passwords posted for a pending authorization request: after a few the request is
-- dropped (src/signin.rs), so one request id cannot be used for unlimited guessing.
ALTER TABLE oauth_pending ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
