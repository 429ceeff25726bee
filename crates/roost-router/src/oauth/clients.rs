//! OAuth clients: what the router knows about one ([`Client`]), where it comes from
//! (pre-registered in config, registered dynamically and stored, or a Client ID Metadata
//! Document fetched from its URL), the redirect-URI rules, and client authentication.
//!
//! Redirect-URI rules (RFC 8252, OAuth 2.1 §2.3.1, decided for roost and documented in
//! `docs/oauth.md`): absolute URIs without fragments or wildcards; `https` for every client;
//! plain `http` only to a loopback host (`127.0.0.1`, `[::1]`, `localhost`), and then any port
//! matches at request time (RFC 8252 §7.3); private-use custom schemes (`cursor://…`,
//! `com.example.app:/cb`) for native clients only, never schemes a browser would execute or
//! resolve locally (`javascript`, `data`, `file`, …).

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use url::Url;

use super::config::{StaticClient, is_loopback_host};

/// Schemes that are never acceptable as a redirect target.
const FORBIDDEN_SCHEMES: [&str; 10] = [
    "javascript",
    "data",
    "file",
    "vbscript",
    "about",
    "blob",
    "ftp",
    "ws",
    "wss",
    "chrome",
];

/// Why a redirect URI or client description was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// A redirect URI breaks the rules.
    #[error("redirect URI {uri:?} is not allowed: {why}")]
    RedirectUri {
        /// The URI.
        uri: String,
        /// Which rule.
        why: &'static str,
    },
    /// No redirect URIs.
    #[error("at least one redirect URI is required")]
    NoRedirectUris,
    /// `application_type` is neither `native` nor `web`.
    #[error("application_type must be \"native\" or \"web\"")]
    ApplicationType,
    /// Some other field is unusable.
    #[error("{0}")]
    Field(String),
}

/// Where a client's description came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// The operator's config.
    Static,
    /// Dynamic Client Registration.
    Registered,
    /// A Client ID Metadata Document.
    MetadataDocument,
}

/// Everything the authorization server needs to know about a client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Client {
    /// The `client_id`.
    pub client_id: String,
    /// The name to show, if the client gave one.
    pub client_name: Option<String>,
    /// Where the client's home page is (shown as a host on the consent page).
    pub client_uri: Option<String>,
    /// A logo URL (shown only when https).
    pub logo_uri: Option<String>,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// `native` or `web`.
    pub application_type: String,
    /// SHA-256 (hex) of the secret; `None` for public clients (`token_endpoint_auth_method = none`).
    pub secret_sha256: Option<String>,
    /// Consent is implied (first-party clients from config).
    pub trusted: bool,
    /// Where this description came from.
    pub kind: ClientKind,
}

impl Client {
    /// Whether `requested` is one of the registered redirect URIs: exact string match, except
    /// that a loopback `http` URI matches on any port (RFC 8252 §7.3).
    pub fn accepts_redirect(&self, requested: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| redirect_matches(registered, requested))
    }

    /// The client is confidential: it must authenticate at the token endpoint.
    pub fn is_confidential(&self) -> bool {
        self.secret_sha256.is_some()
    }

    /// Whether `secret` is this client's secret (constant-time over the digests).
    pub fn secret_matches(&self, secret: &str) -> bool {
        let Some(expected) = &self.secret_sha256 else {
            return false;
        };
        let actual = hex::encode(Sha256::digest(secret.as_bytes()));
        actual
            .as_bytes()
            .ct_eq(expected.to_ascii_lowercase().as_bytes())
            .into()
    }

    /// The name for people: the client's own name, else its id's host (CIMD) or the id.
    pub fn display_name(&self) -> String {
        if let Some(name) = self.client_name.as_deref().filter(|n| !n.trim().is_empty()) {
            return name.trim().chars().take(80).collect();
        }
        Url::parse(&self.client_id)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| self.client_id.clone())
    }
}

/// Whether a registered and a requested redirect URI match.
pub fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(a), Ok(b)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    // Any port on loopback, everything else byte-identical after parsing.
    a.scheme() == "http"
        && b.scheme() == "http"
        && is_loopback_host(&a)
        && a.host() == b.host()
        && a.path() == b.path()
        && a.query() == b.query()
        && a.username() == b.username()
        && a.password().is_none()
        && b.password().is_none()
        && b.fragment().is_none()
}

/// Checks one redirect URI against the rules for a client of `application_type`.
pub fn check_redirect_uri(uri: &str, application_type: &str) -> Result<(), ClientError> {
    let refuse = |why| {
        Err(ClientError::RedirectUri {
            uri: uri.to_owned(),
            why,
        })
    };
    if uri.contains('*') {
        return refuse("wildcards are not allowed; register each URI exactly");
    }
    let Ok(url) = Url::parse(uri) else {
        return refuse("it is not an absolute URI");
    };
    if url.fragment().is_some() || uri.contains('#') {
        return refuse("it must not contain a fragment (#…)");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("it must not contain a user name or password");
    }
    match url.scheme() {
        "https" => {
            if url.host_str().is_none_or(str::is_empty) {
                return refuse("an https URI needs a host");
            }
            Ok(())
        }
        "http" if is_loopback_host(&url) => Ok(()),
        "http" => {
            refuse("plain http is allowed only to a loopback host (127.0.0.1, [::1], localhost)")
        }
        scheme if FORBIDDEN_SCHEMES.contains(&scheme) => {
            refuse("this scheme is never a safe redirect target")
        }
        _ if application_type == "native" => Ok(()),
        _ => refuse(
            "custom URI schemes are only for native applications (application_type \"native\")",
        ),
    }
}

/// Decides `application_type` when a (pre-2026) client left it out: `native` when a redirect
/// URI is loopback or a custom scheme, else `web` (the RFC 7591/OIDC default).
pub fn infer_application_type(
    declared: Option<&str>,
    redirect_uris: &[String],
) -> Result<String, ClientError> {
    match declared {
        Some("native") => Ok("native".to_owned()),
        Some("web") => Ok("web".to_owned()),
        Some(_) => Err(ClientError::ApplicationType),
        None => {
            let native = redirect_uris.iter().any(|uri| {
                Url::parse(uri).is_ok_and(|u| {
                    u.scheme() != "https" && (u.scheme() != "http" || is_loopback_host(&u))
                })
            });
            Ok(if native { "native" } else { "web" }.to_owned())
        }
    }
}

/// Checks every redirect URI; `web` clients may not use loopback `http` (OIDC Registration §2).
pub fn check_redirect_uris(uris: &[String], application_type: &str) -> Result<(), ClientError> {
    if uris.is_empty() {
        return Err(ClientError::NoRedirectUris);
    }
    for uri in uris {
        check_redirect_uri(uri, application_type)?;
        if application_type == "web" && uri.starts_with("http:") {
            return Err(ClientError::RedirectUri {
                uri: uri.clone(),
                why: "a web application must use https; register as application_type \"native\" for loopback redirects",
            });
        }
    }
    Ok(())
}

/// Validates a pre-registered client from config.
pub fn check_static(client: &StaticClient) -> Result<(), ClientError> {
    if client.client_id.trim().is_empty() {
        return Err(ClientError::Field("client_id is empty".into()));
    }
    let kind = infer_application_type(client.application_type.as_deref(), &client.redirect_uris)?;
    check_redirect_uris(&client.redirect_uris, &kind)?;
    if let Some(hash) = &client.client_secret_sha256
        && (hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(ClientError::Field(
            "client_secret_sha256 must be 64 hex digits (e.g. `printf %s \"$SECRET\" | sha256sum`)"
                .into(),
        ));
    }
    Ok(())
}

/// A pre-registered client as a [`Client`].
pub fn from_static(client: &StaticClient) -> Client {
    Client {
        client_id: client.client_id.clone(),
        client_name: client.client_name.clone(),
        client_uri: None,
        logo_uri: None,
        redirect_uris: client.redirect_uris.clone(),
        application_type: infer_application_type(
            client.application_type.as_deref(),
            &client.redirect_uris,
        )
        .unwrap_or_else(|_| "web".into()),
        secret_sha256: client
            .client_secret_sha256
            .as_ref()
            .map(|h| h.to_ascii_lowercase()),
        trusted: client.trusted,
        kind: ClientKind::Static,
    }
}

/// Whether `client_id` is a URL, so names a Client ID Metadata Document. (The fetcher then
/// insists on `https`, except under the test-only policy.)
pub fn is_metadata_document_id(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(uris: &[&str]) -> Client {
        Client {
            client_id: "c".into(),
            client_name: None,
            client_uri: None,
            logo_uri: None,
            redirect_uris: uris.iter().map(|s| s.to_string()).collect(),
            application_type: "native".into(),
            secret_sha256: None,
            trusted: false,
            kind: ClientKind::Registered,
        }
    }

    #[test]
    fn loopback_redirects_match_any_port_and_nothing_else_does() {
        let c = client(&["http://127.0.0.1/callback", "https://app.example/cb"]);
        assert!(c.accepts_redirect("http://127.0.0.1:53121/callback"));
        assert!(c.accepts_redirect("https://app.example/cb"));
        assert!(!c.accepts_redirect("https://app.example:8443/cb"));
        assert!(!c.accepts_redirect("https://app.example/cb/"));
        assert!(!c.accepts_redirect("http://127.0.0.1:53121/other"));
        assert!(!c.accepts_redirect("http://localhost:53121/callback"));
        assert!(!c.accepts_redirect("https://app.example/cb?x=1"));
    }

    #[test]
    fn redirect_uri_rules() {
        for ok in [
            "https://a.example/cb",
            "http://127.0.0.1:3000/cb",
            "http://[::1]/cb",
            "http://localhost/cb",
            "cursor://anysphere.cursor-mcp/oauth/callback",
        ] {
            check_redirect_uri(ok, "native").unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, word) in [
            ("https://a.example/cb#frag", "fragment"),
            ("https://*.example/cb", "wildcard"),
            ("http://a.example/cb", "loopback"),
            ("javascript:alert(1)", "never"),
            ("data:text/html,x", "never"),
            ("/relative", "absolute"),
            ("https://user:pw@a.example/cb", "password"),
        ] {
            let err = check_redirect_uri(bad, "native").unwrap_err().to_string();
            assert!(err.contains(word), "{bad}: {err}");
        }
        assert!(
            check_redirect_uri("myapp://cb", "web")
                .unwrap_err()
                .to_string()
                .contains("native")
        );
        assert!(check_redirect_uris(&["http://127.0.0.1/cb".into()], "web").is_err());
    }

    #[test]
    fn application_type_is_inferred_for_old_clients() {
        assert_eq!(
            infer_application_type(None, &["http://127.0.0.1/cb".into()]).unwrap(),
            "native"
        );
        assert_eq!(
            infer_application_type(None, &["https://a.example/cb".into()]).unwrap(),
            "web"
        );
        assert!(infer_application_type(Some("desktop"), &[]).is_err());
    }

    #[test]
    fn secrets_compare_by_digest() {
        let mut c = client(&[]);
        c.secret_sha256 = Some(hex::encode(Sha256::digest(b"s3cret")));
        assert!(c.secret_matches("s3cret"));
        assert!(!c.secret_matches("s3cret "));
        c.secret_sha256 = None;
        assert!(!c.secret_matches(""));
    }
}
