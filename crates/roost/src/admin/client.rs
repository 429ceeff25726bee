//! The HTTP side of `roost admin`: one request to the router's admin API (`/admin/v1/…`,
//! `crates/roost-router/src/admin.rs`), its answer as JSON, and every failure said in the
//! operator's words: which setting to check, not a status code.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;

/// How long one admin request may take. Provisioning and deletion continue in the router, so
/// most actions answer at once; the slowest is an update of a running machine, which waits up
/// to a minute for it to restart on the new image.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);

/// Why an admin request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No token was given.
    #[error(
        "no admin token: set ROOST_ADMIN_TOKEN (the router's admin token) or pass --admin-token"
    )]
    NoToken,
    /// `--router` is not a URL.
    #[error("--router / ROOST_ROUTER_URL is not a URL ({0}): use e.g. https://mcp.example.com")]
    BadUrl(String),
    /// Nothing answered at the router URL.
    #[error("no router at {0}: is it running?")]
    Unreachable(String),
    /// The router took too long.
    #[error("the router at {0} did not answer in time")]
    Timeout(String),
    /// The request failed on the way (TLS, a reset connection…).
    #[error("the request to {url} failed: {reason}")]
    Transport {
        /// The URL asked.
        url: String,
        /// What went wrong, with its causes.
        reason: String,
    },
    /// 401: the token is wrong.
    #[error("the admin token was refused: check ROOST_ADMIN_TOKEN")]
    Refused,
    /// 404 without a tenant: the router runs without `ROOST_ADMIN_TOKEN`, or it is not a router.
    #[error(
        "the router at {0} has no admin API: set ROOST_ADMIN_TOKEN on the router (and check the URL)"
    )]
    NoAdminApi(String),
    /// 404 for a tenant.
    #[error("no tenant {0}")]
    NoSuchTenant(String),
    /// 400/409: the router explained why not.
    #[error("the router refused: {0}")]
    Rejected(String),
    /// 502: the router could not get Fly to do it.
    #[error("Fly did not do it: {0}")]
    Upstream(String),
    /// Anything else.
    #[error("the router answered {status}: {message}")]
    Unexpected {
        /// The status.
        status: StatusCode,
        /// The `error` field of the body, or the body.
        message: String,
    },
}

/// A client for one router's admin API.
#[derive(Debug, Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    base: Url,
    token: String,
}

impl AdminClient {
    /// A client for the router at `router` (its public URL) with the admin `token`.
    pub fn new(router: &str, token: Option<&str>) -> Result<Self, ClientError> {
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ClientError::NoToken)?
            .to_owned();
        let mut base = Url::parse(router).map_err(|e| ClientError::BadUrl(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::BadUrl(format!(
                "the scheme is `{}`",
                base.scheme()
            )));
        }
        // `https://host/mcp` (the URL users paste) works too: the admin API is at the root.
        base.set_path("/");
        base.set_query(None);
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("roost-admin/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Transport {
                url: base.to_string(),
                reason: causes(&e),
            })?;
        Ok(Self { http, base, token })
    }

    /// `GET /admin/v1/tenants[?state=…]`: newest first, at most 1000.
    pub async fn list(&self, state: Option<&str>) -> Result<Value, ClientError> {
        let mut url = self.url(&["tenants"]);
        if let Some(state) = state {
            url.query_pairs_mut().append_pair("state", state);
        }
        self.send(Method::GET, url, None).await
    }

    /// `GET /admin/v1/tenants?after=…[&state=…]`: the next page in id order.
    pub async fn list_after(&self, state: Option<&str>, after: &str) -> Result<Value, ClientError> {
        let mut url = self.url(&["tenants"]);
        url.query_pairs_mut().append_pair("after", after);
        if let Some(state) = state {
            url.query_pairs_mut().append_pair("state", state);
        }
        self.send(Method::GET, url, None).await
    }

    /// `POST /admin/v1/tenants/{id}/update[?force=true]`.
    pub async fn update(&self, id: &str, force: bool) -> Result<Value, ClientError> {
        let mut url = self.url(&["tenants", id, "update"]);
        if force {
            url.query_pairs_mut().append_pair("force", "true");
        }
        self.send(Method::POST, url, Some(id)).await
    }

    /// `GET /admin/v1/tenants/{id}`.
    pub async fn show(&self, id: &str) -> Result<Value, ClientError> {
        self.send(Method::GET, self.url(&["tenants", id]), Some(id))
            .await
    }

    /// `POST /admin/v1/tenants/{id}/{action}` (`retry`, `suspend`, `resume`).
    pub async fn act(&self, id: &str, action: &str) -> Result<Value, ClientError> {
        self.send(Method::POST, self.url(&["tenants", id, action]), Some(id))
            .await
    }

    /// `DELETE /admin/v1/tenants/{id}`.
    pub async fn delete(&self, id: &str) -> Result<Value, ClientError> {
        self.send(Method::DELETE, self.url(&["tenants", id]), Some(id))
            .await
    }

    /// `<base>/admin/v1/<segments…>`, each segment percent-encoded (a tenant id is the
    /// operator's input).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http(s) URL has a path")
            .pop_if_empty()
            .extend(["admin", "v1"])
            .extend(segments);
        url
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        tenant: Option<&str>,
    ) -> Result<Value, ClientError> {
        let origin = self.base.as_str().trim_end_matches('/').to_owned();
        let response = self
            .http
            .request(method, url.clone())
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|source| {
                if source.is_connect() {
                    ClientError::Unreachable(origin.clone())
                } else if source.is_timeout() {
                    ClientError::Timeout(origin.clone())
                } else {
                    ClientError::Transport {
                        url: url.to_string(),
                        reason: causes(&source),
                    }
                }
            })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| ClientError::Transport {
            url: url.to_string(),
            reason: causes(&e),
        })?;
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        if status.is_success()
            && let Some(json) = json
        {
            return Ok(json);
        }
        let message = json
            .as_ref()
            .and_then(|j| j["error"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
        Err(match status {
            StatusCode::UNAUTHORIZED => ClientError::Refused,
            // The admin API says `no tenant <id>`; anything else is a router without the API
            // (it answers 404 as if the API did not exist) or not a router at all.
            StatusCode::NOT_FOUND => match tenant {
                Some(id) if message.starts_with("no tenant") => {
                    ClientError::NoSuchTenant(id.to_owned())
                }
                _ => ClientError::NoAdminApi(origin),
            },
            StatusCode::BAD_REQUEST | StatusCode::CONFLICT => ClientError::Rejected(message),
            StatusCode::BAD_GATEWAY => ClientError::Upstream(message),
            status => ClientError::Unexpected { status, message },
        })
    }
}

/// An error and its causes on one line (reqwest's own message is only the outermost layer).
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_built_from_the_router_root_and_escape_the_tenant_id() {
        let client = AdminClient::new("https://mcp.example.com/mcp", Some("t")).unwrap();
        assert_eq!(
            client.url(&["tenants", "a/b?c"]).as_str(),
            "https://mcp.example.com/admin/v1/tenants/a%2Fb%3Fc"
        );
        let client = AdminClient::new("http://127.0.0.1:8080", Some("t")).unwrap();
        assert_eq!(
            client.url(&["tenants"]).as_str(),
            "http://127.0.0.1:8080/admin/v1/tenants"
        );
    }

    #[test]
    fn a_missing_token_or_a_bad_url_is_said_plainly() {
        let err = AdminClient::new("http://127.0.0.1:8080", Some("  ")).unwrap_err();
        assert!(err.to_string().contains("ROOST_ADMIN_TOKEN"), "{err}");
        let err = AdminClient::new("mcp.example.com", Some("t")).unwrap_err();
        assert!(err.to_string().contains("ROOST_ROUTER_URL"), "{err}");
    }
}
