-- The browser that started a pending authorization request: the SHA-256 of a random value in
-- its `roost-request` cookie. Sign-in and consent for the request are accepted only from that
-- browser (login CSRF; src/signin.rs).
ALTER TABLE oauth_pending ADD COLUMN browser_hash TEXT NOT NULL DEFAULT '';
