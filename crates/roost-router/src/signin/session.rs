//! Browser sessions at the router: after a user signs in, a random session id in a cookie maps
//! to their user id (stored hashed in `signin_sessions`). The session lets a returning client's
//! authorization skip the sign-in form, and binds the consent form's CSRF token.
//!
//! Cookies are `__Host-` + `Secure` + `HttpOnly` + `SameSite=Lax` + `Path=/` (MCP security best
//! practices: consent cookies). On a plain-http loopback URL (`roost dev`) browsers refuse both
//! `Secure` cookies and the `__Host-` prefix, so the cookie is named without the prefix and sent
//! without `Secure`; configuration refuses plain http anywhere else.

use std::time::Duration;

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use sqlx::Row as _;

use crate::db::{Db, now_ms};
use crate::oauth::store::{hash_secret, random_token};

/// A signed-in browser. `Debug` shows the user, never the token.
#[derive(Clone)]
pub struct Session {
    /// The user.
    pub user_id: String,
    /// The cookie value (a bearer secret: never log it).
    pub token: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Session rows and cookies. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Sessions {
    db: Db,
    secure: bool,
    ttl: Duration,
}

impl Sessions {
    /// Sessions over `db`; `secure` when the public URL is https.
    pub fn new(db: Db, secure: bool, ttl: Duration) -> Self {
        Sessions { db, secure, ttl }
    }

    /// The session cookie's name.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-roost-session"
        } else {
            "roost-session"
        }
    }

    /// The name of the cookie binding an upstream sign-in to the browser that started it.
    pub fn flow_cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-roost-signin"
        } else {
            "roost-signin"
        }
    }

    /// The name of the cookie binding pending authorization requests to the browser that
    /// started them (login CSRF: a request id and its form token are no use in another
    /// browser).
    pub fn request_cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-roost-request"
        } else {
            "roost-request"
        }
    }

    /// The browser's request-binding value, or a new one, as the cookie to (re)set for `ttl`
    /// and the hash to store with a pending request. One value per browser, so two
    /// authorizations running side by side in one browser do not undo each other.
    pub fn bind_request(&self, jar: &CookieJar, ttl: Duration) -> (Cookie<'static>, String) {
        let value = jar
            .get(self.request_cookie_name())
            .map(|c| c.value().to_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(random_token);
        let hash = hash_secret(&value);
        (self.cookie(self.request_cookie_name(), value, ttl), hash)
    }

    /// The browser's request-binding value, if it sent one.
    pub fn request_binding<'a>(&self, jar: &'a CookieJar) -> Option<&'a str> {
        jar.get(self.request_cookie_name()).map(|c| c.value())
    }

    /// A cookie with the session attributes.
    pub fn cookie(&self, name: &'static str, value: String, max_age: Duration) -> Cookie<'static> {
        Cookie::build((name, value))
            .path("/")
            .secure(self.secure)
            .http_only(true)
            .same_site(SameSite::Lax)
            .max_age(cookie_duration(max_age))
            .build()
    }

    /// Starts a session for `user_id`; returns the cookie to set.
    pub async fn create(&self, user_id: &str) -> Result<Cookie<'static>, sqlx::Error> {
        let token = random_token();
        let now = now_ms();
        sqlx::query("DELETE FROM signin_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(self.db.pool())
            .await?;
        sqlx::query(
            "INSERT INTO signin_sessions (id_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(hash_secret(&token))
        .bind(user_id)
        .bind(now + i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX))
        .execute(self.db.pool())
        .await?;
        Ok(self.cookie(self.cookie_name(), token, self.ttl))
    }

    /// Ends the browser's session (if any); returns the cookie that clears it.
    pub async fn end(&self, jar: &CookieJar) -> Result<Cookie<'static>, sqlx::Error> {
        if let Some(cookie) = jar.get(self.cookie_name()) {
            sqlx::query("DELETE FROM signin_sessions WHERE id_hash = $1")
                .bind(hash_secret(cookie.value()))
                .execute(self.db.pool())
                .await?;
        }
        Ok(self.cookie(self.cookie_name(), String::new(), Duration::ZERO))
    }

    /// The browser's current session, if its cookie names a live one.
    pub async fn current(&self, jar: &CookieJar) -> Result<Option<Session>, sqlx::Error> {
        let Some(cookie) = jar.get(self.cookie_name()) else {
            return Ok(None);
        };
        let token = cookie.value().to_owned();
        let row = sqlx::query(
            "SELECT user_id FROM signin_sessions WHERE id_hash = $1 AND expires_at >= $2",
        )
        .bind(hash_secret(&token))
        .bind(now_ms())
        .fetch_optional(self.db.pool())
        .await?;
        Ok(match row {
            Some(row) => Some(Session {
                user_id: row.try_get(0)?,
                token,
            }),
            None => None,
        })
    }
}

fn cookie_duration(d: Duration) -> time::Duration {
    time::Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_debugs_without_its_token() {
        let session = Session {
            user_id: "u-1".into(),
            token: "secret-cookie-value".into(),
        };
        let text = format!("{session:?}");
        assert!(
            text.contains("u-1") && !text.contains("secret-cookie-value"),
            "{text}"
        );
    }
}
