//! The OAuth and sign-in flags ([`OAuthConfig`], flattened into the router's `Config`) and the
//! file they may point at ([`OAuthFile`]: pre-registered clients, upstream identity providers,
//! local accounts), validated once into [`OAuthSettings`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;
use url::Url;

/// A flag or file value that is unusable; names the variable (or file) to fix.
#[derive(Debug, thiserror::Error)]
#[error("{var} is invalid: {reason}")]
pub struct OAuthConfigError {
    /// The environment variable (or file) at fault.
    pub var: &'static str,
    /// Why, and what to do.
    pub reason: String,
}

fn invalid(var: &'static str, reason: impl Into<String>) -> OAuthConfigError {
    OAuthConfigError {
        var,
        reason: reason.into(),
    }
}

/// OAuth authorization server and browser sign-in flags. See `docs/oauth.md`.
#[derive(Clone, Debug, Args)]
pub struct OAuthConfig {
    /// A TOML file with pre-registered clients (`[[clients]]`), OpenID Connect providers
    /// (`[[oidc]]`), GitHub (`[github]`) and local accounts (`[[accounts]]`).
    #[arg(long, env = "ROOST_OAUTH_CONFIG")]
    pub oauth_config: Option<PathBuf>,

    /// Pre-registered clients as a JSON array (same fields as `[[clients]]` in the file),
    /// for deployments that prefer one secret over a file.
    #[arg(long, env = "ROOST_OAUTH_CLIENTS", hide_env_values = true)]
    pub oauth_clients: Option<String>,

    /// Lifetime of access tokens. Workspaces check only the signature and `exp`, so keep it
    /// short; the router also refuses revoked tokens (see --revocation-poll).
    #[arg(long, env = "ROOST_ACCESS_TOKEN_TTL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub access_token_ttl: Duration,

    /// How often the router looks in the database for access tokens other routers revoked.
    /// A revocation applies at once on the router that made it, and within this on the others.
    #[arg(long, env = "ROOST_REVOCATION_POLL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub revocation_poll: Duration,

    /// Lifetime of refresh tokens (each use rotates the token and restarts this clock).
    #[arg(long, env = "ROOST_REFRESH_TOKEN_TTL", default_value = "30d", value_parser = humantime::parse_duration)]
    pub refresh_token_ttl: Duration,

    /// How long after a refresh token is used a second use still succeeds (clients race
    /// concurrent refreshes); after it, a reuse revokes the token's whole family.
    #[arg(long, env = "ROOST_REFRESH_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub refresh_grace: Duration,

    /// Lifetime of authorization codes.
    #[arg(long, env = "ROOST_CODE_TTL", default_value = "2m", value_parser = humantime::parse_duration)]
    pub code_ttl: Duration,

    /// Lifetime of a browser sign-in session at the router.
    #[arg(long, env = "ROOST_SESSION_TTL", default_value = "24h", value_parser = humantime::parse_duration)]
    pub session_ttl: Duration,

    /// Accept Dynamic Client Registration (RFC 7591) at `/oauth/register`.
    #[arg(long, env = "ROOST_DCR", default_value_t = true, action = clap::ArgAction::Set)]
    pub dcr: bool,

    /// Dynamic registrations allowed per client IP per minute.
    #[arg(long, env = "ROOST_DCR_PER_MINUTE", default_value_t = 10)]
    pub dcr_per_minute: u32,

    /// The request header holding the client's IP (set by the proxy in front; Fly's proxy
    /// sets `Fly-Client-IP`). Used only for rate limiting.
    #[arg(long, env = "ROOST_CLIENT_IP_HEADER", default_value = "fly-client-ip")]
    pub client_ip_header: String,

    /// Accept Client ID Metadata Documents (an HTTPS URL as `client_id`).
    #[arg(long, env = "ROOST_CIMD", default_value_t = true, action = clap::ArgAction::Set)]
    pub cimd: bool,

    /// Total time allowed to fetch one client metadata document (all redirect hops).
    #[arg(long, env = "ROOST_CIMD_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub cimd_timeout: Duration,

    /// Largest client metadata document accepted, in bytes.
    #[arg(long, env = "ROOST_CIMD_MAX_BYTES", default_value_t = 16 * 1024)]
    pub cimd_max_bytes: usize,

    /// Offer the username/password form for local accounts on the sign-in page.
    #[arg(long, env = "ROOST_LOCAL_SIGNIN", default_value_t = true, action = clap::ArgAction::Set)]
    pub local_signin: bool,

    /// Development sign-in: every authorization is granted to the fixed user `dev` without a
    /// form. Only for `roost dev`: refused unless the public URL is on loopback.
    #[arg(long, env = "ROOST_DEV_SIGNIN", default_value_t = false, action = clap::ArgAction::Set)]
    pub dev_signin: bool,
}

/// A pre-registered client, as written in the config file or `ROOST_OAUTH_CLIENTS`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticClient {
    /// The client id the client sends.
    pub client_id: String,
    /// The name shown on the consent page.
    pub client_name: Option<String>,
    /// Exact redirect URIs (loopback ones match on any port).
    pub redirect_uris: Vec<String>,
    /// `native` or `web` (default `web`).
    pub application_type: Option<String>,
    /// SHA-256 (hex) of the client secret, for a confidential client. Never the secret itself.
    pub client_secret_sha256: Option<String>,
    /// Consent is not asked for this first-party client.
    #[serde(default)]
    pub trusted: bool,
}

/// An OpenID Connect provider found by discovery.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// Short id used in URLs and in the `identities` table (`oidc:<id>`); never change it.
    pub id: String,
    /// Shown on the sign-in button ("Continue with …").
    pub name: String,
    /// The issuer URL; `<issuer>/.well-known/openid-configuration` must exist.
    pub issuer: String,
    /// The router's client id at the provider.
    pub client_id: String,
    /// The client secret (or use `client_secret_env`).
    pub client_secret: Option<String>,
    /// The environment variable holding the client secret.
    pub client_secret_env: Option<String>,
    /// Extra scopes beyond `openid` (default `email`, `profile`).
    pub scopes: Option<Vec<String>>,
}

/// GitHub as an identity provider (an OAuth app).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    /// The OAuth app's client id.
    pub client_id: String,
    /// The client secret (or use `client_secret_env`).
    pub client_secret: Option<String>,
    /// The environment variable holding the client secret.
    pub client_secret_env: Option<String>,
    /// Web base URL (GitHub Enterprise: `https://github.example.com`).
    pub web_url: Option<String>,
    /// API base URL (GitHub Enterprise: `https://github.example.com/api/v3`).
    pub api_url: Option<String>,
}

/// A local account from the config file. `Debug` leaves the hash out (an offline guess
/// target).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// The name typed on the sign-in form.
    pub username: String,
    /// An argon2id PHC string (`roost admin hash-password`, or any argon2 tool).
    pub password_hash: String,
}

impl std::fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountConfig")
            .field("username", &self.username)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

/// The OAuth config file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthFile {
    /// Pre-registered clients.
    #[serde(default)]
    pub clients: Vec<StaticClient>,
    /// OpenID Connect providers.
    #[serde(default)]
    pub oidc: Vec<OidcProviderConfig>,
    /// GitHub.
    pub github: Option<GithubConfig>,
    /// Local accounts created (or re-hashed) at start-up.
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
}

/// An upstream provider with its secret resolved.
#[derive(Clone)]
pub struct ResolvedSecret(pub String);

impl std::fmt::Debug for ResolvedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// The validated OAuth settings. Its `Debug` names accounts and clients but leaves out
/// password hashes, client-secret digests and provider secrets.
#[derive(Clone)]
pub struct OAuthSettings {
    /// The router's public base URL (no trailing slash).
    pub public_url: String,
    /// The canonical MCP URL: the only accepted `resource` and every token's `aud`.
    pub mcp_url: String,
    /// The issuer, byte-identical in metadata, tokens and `iss` responses.
    pub issuer: String,
    /// Whether cookies can be `Secure` + `__Host-` (the public URL is https).
    pub secure_cookies: bool,
    /// Access-token lifetime.
    pub access_token_ttl: Duration,
    /// How often other routers' revocations are polled.
    pub revocation_poll: Duration,
    /// Refresh-token lifetime.
    pub refresh_token_ttl: Duration,
    /// Concurrent-refresh grace window.
    pub refresh_grace: Duration,
    /// Code lifetime.
    pub code_ttl: Duration,
    /// Browser session lifetime.
    pub session_ttl: Duration,
    /// DCR enabled.
    pub dcr: bool,
    /// DCR rate per IP per minute.
    pub dcr_per_minute: u32,
    /// Header naming the client IP.
    pub client_ip_header: String,
    /// CIMD enabled.
    pub cimd: bool,
    /// CIMD fetch timeout.
    pub cimd_timeout: Duration,
    /// CIMD size cap.
    pub cimd_max_bytes: usize,
    /// Local sign-in form offered.
    pub local_signin: bool,
    /// Development sign-in.
    pub dev_signin: bool,
    /// Pre-registered clients.
    pub clients: Vec<StaticClient>,
    /// OIDC providers with resolved secrets.
    pub oidc: Vec<(OidcProviderConfig, ResolvedSecret)>,
    /// GitHub with its resolved secret.
    pub github: Option<(GithubConfig, ResolvedSecret)>,
    /// Local accounts to create at start-up.
    pub accounts: Vec<AccountConfig>,
}

impl std::fmt::Debug for OAuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let clients: Vec<&str> = self.clients.iter().map(|c| c.client_id.as_str()).collect();
        let oidc: Vec<&str> = self.oidc.iter().map(|(p, _)| p.id.as_str()).collect();
        let accounts: Vec<&str> = self.accounts.iter().map(|a| a.username.as_str()).collect();
        f.debug_struct("OAuthSettings")
            .field("public_url", &self.public_url)
            .field("mcp_url", &self.mcp_url)
            .field("issuer", &self.issuer)
            .field("secure_cookies", &self.secure_cookies)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("revocation_poll", &self.revocation_poll)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("refresh_grace", &self.refresh_grace)
            .field("code_ttl", &self.code_ttl)
            .field("session_ttl", &self.session_ttl)
            .field("dcr", &self.dcr)
            .field("dcr_per_minute", &self.dcr_per_minute)
            .field("client_ip_header", &self.client_ip_header)
            .field("cimd", &self.cimd)
            .field("cimd_timeout", &self.cimd_timeout)
            .field("cimd_max_bytes", &self.cimd_max_bytes)
            .field("local_signin", &self.local_signin)
            .field("dev_signin", &self.dev_signin)
            .field("clients", &clients)
            .field("oidc", &oidc)
            .field("github", &self.github.is_some())
            .field("accounts", &accounts)
            .finish()
    }
}

impl OAuthConfig {
    /// Validates the flags (and reads the file) against the router's public URL and issuer.
    pub fn settings(
        &self,
        public_url: &str,
        mcp_url: &str,
        issuer: &str,
    ) -> Result<OAuthSettings, OAuthConfigError> {
        let parsed =
            Url::parse(public_url).map_err(|e| invalid("ROOST_PUBLIC_URL", e.to_string()))?;
        let loopback = is_loopback_host(&parsed);
        let secure_cookies = parsed.scheme() == "https";
        if !secure_cookies && !loopback {
            return Err(invalid(
                "ROOST_PUBLIC_URL",
                "must be https: plain http is allowed only on loopback (127.0.0.1, [::1], \
                 localhost) for development, because sign-in cookies and tokens would travel \
                 unencrypted",
            ));
        }
        if self.dev_signin && !loopback {
            return Err(invalid(
                "ROOST_DEV_SIGNIN",
                "development sign-in grants every request to a fixed user without a password; \
                 it is only allowed when ROOST_PUBLIC_URL is on loopback (as under `roost dev`)",
            ));
        }
        let positive = [
            ("ROOST_ACCESS_TOKEN_TTL", self.access_token_ttl),
            ("ROOST_REFRESH_TOKEN_TTL", self.refresh_token_ttl),
            ("ROOST_CODE_TTL", self.code_ttl),
            ("ROOST_SESSION_TTL", self.session_ttl),
            ("ROOST_CIMD_TIMEOUT", self.cimd_timeout),
        ];
        for (var, value) in positive {
            if value < Duration::from_secs(1) {
                return Err(invalid(var, "must be at least 1s"));
            }
        }
        if self.revocation_poll.is_zero() {
            return Err(invalid(
                "ROOST_REVOCATION_POLL",
                "must be more than 0s, e.g. 5s",
            ));
        }
        if self.code_ttl > Duration::from_secs(600) {
            return Err(invalid(
                "ROOST_CODE_TTL",
                "must be at most 10m (OAuth 2.1 §4.1.2)",
            ));
        }
        if self.dcr_per_minute == 0 {
            return Err(invalid(
                "ROOST_DCR_PER_MINUTE",
                "must be at least 1 (set ROOST_DCR=false to turn DCR off)",
            ));
        }

        let mut file = match &self.oauth_config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    invalid(
                        "ROOST_OAUTH_CONFIG",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                toml::from_str::<OAuthFile>(&text).map_err(|e| {
                    invalid(
                        "ROOST_OAUTH_CONFIG",
                        format!("{} is not valid: {e}", path.display()),
                    )
                })?
            }
            None => OAuthFile::default(),
        };
        if let Some(json) = &self.oauth_clients {
            let clients: Vec<StaticClient> = serde_json::from_str(json).map_err(|e| {
                invalid(
                    "ROOST_OAUTH_CLIENTS",
                    format!("not a JSON array of clients: {e}"),
                )
            })?;
            file.clients.extend(clients);
        }
        for client in &file.clients {
            crate::oauth::clients::check_static(client).map_err(|e| {
                invalid(
                    "ROOST_OAUTH_CONFIG",
                    format!("client {:?}: {e}", client.client_id),
                )
            })?;
        }
        let mut oidc = Vec::new();
        for provider in file.oidc {
            if provider.id.is_empty()
                || !provider
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(invalid(
                    "ROOST_OAUTH_CONFIG",
                    format!(
                        "oidc provider id {:?} must be letters, digits and dashes",
                        provider.id
                    ),
                ));
            }
            Url::parse(&provider.issuer).map_err(|e| {
                invalid(
                    "ROOST_OAUTH_CONFIG",
                    format!("oidc provider {:?}: issuer: {e}", provider.id),
                )
            })?;
            let secret = resolve_secret(
                &provider.id,
                provider.client_secret.as_deref(),
                provider.client_secret_env.as_deref(),
            )?;
            // From here the secret lives only in `ResolvedSecret`, whose Debug hides it.
            let provider = OidcProviderConfig {
                client_secret: None,
                ..provider
            };
            oidc.push((provider, secret));
        }
        let github = match file.github {
            Some(github) => {
                for (field, value) in [("web_url", &github.web_url), ("api_url", &github.api_url)] {
                    if let Some(value) = value {
                        check_github_url(value).map_err(|why| {
                            invalid(
                                "ROOST_OAUTH_CONFIG",
                                format!("github {field} {value:?}: {why}"),
                            )
                        })?;
                    }
                }
                let secret = resolve_secret(
                    "github",
                    github.client_secret.as_deref(),
                    github.client_secret_env.as_deref(),
                )?;
                Some((
                    GithubConfig {
                        client_secret: None,
                        ..github
                    },
                    secret,
                ))
            }
            None => None,
        };
        for account in &file.accounts {
            crate::signin::local::check_hash(&account.password_hash).map_err(|why| {
                invalid(
                    "ROOST_OAUTH_CONFIG",
                    format!(
                        "account {:?}: password_hash is refused: {why}",
                        account.username
                    ),
                )
            })?;
        }

        Ok(OAuthSettings {
            public_url: public_url.to_owned(),
            mcp_url: mcp_url.to_owned(),
            issuer: issuer.to_owned(),
            secure_cookies,
            access_token_ttl: self.access_token_ttl,
            revocation_poll: self.revocation_poll,
            refresh_token_ttl: self.refresh_token_ttl,
            refresh_grace: self.refresh_grace,
            code_ttl: self.code_ttl,
            session_ttl: self.session_ttl,
            dcr: self.dcr,
            dcr_per_minute: self.dcr_per_minute,
            client_ip_header: self.client_ip_header.to_ascii_lowercase(),
            cimd: self.cimd,
            cimd_timeout: self.cimd_timeout,
            cimd_max_bytes: self.cimd_max_bytes,
            local_signin: self.local_signin,
            dev_signin: self.dev_signin,
            clients: file.clients,
            oidc,
            github,
            accounts: file.accounts,
        })
    }
}

fn resolve_secret(
    provider: &str,
    inline: Option<&str>,
    env: Option<&str>,
) -> Result<ResolvedSecret, OAuthConfigError> {
    match (inline, env) {
        (Some(secret), None) => Ok(ResolvedSecret(secret.to_owned())),
        (None, Some(var)) => std::env::var(var).map(ResolvedSecret).map_err(|_| {
            invalid(
                "ROOST_OAUTH_CONFIG",
                format!("provider {provider:?}: environment variable {var} is not set"),
            )
        }),
        _ => Err(invalid(
            "ROOST_OAUTH_CONFIG",
            format!(
                "provider {provider:?}: give exactly one of client_secret and client_secret_env"
            ),
        )),
    }
}

/// Checks a GitHub (Enterprise) base URL: absolute, https (the client secret and codes travel
/// to it; plain http only to a loopback test server), no query or fragment.
fn check_github_url(value: &str) -> Result<(), String> {
    let url = Url::parse(value).map_err(|e| {
        format!("not an absolute URL ({e}); write it like https://github.example.com")
    })?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&url) => {}
        "http" => {
            return Err("plain http would send the client secret unencrypted; use https".into());
        }
        other => return Err(format!("the scheme {other:?} is not https")),
    }
    if url.host().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err("it needs a host and no query or fragment".into());
    }
    Ok(())
}

/// Whether a URL's host is loopback: `localhost`, `127.0.0.0/8` or `[::1]`.
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests;
