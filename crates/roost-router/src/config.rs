//! The router's configuration: flags and `ROOST_*` environment variables (clap derive),
//! validated once at start-up into [`Settings`].
//!
//! Every error names the variable to set. Tests and `roost dev` build [`Settings`] through
//! [`Config::settings`] from a `Config` they construct, never by mutating the process
//! environment.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use roost_token::{SigningKey, Verifier};
use url::Url;

use crate::db::{Db, DbKind};
use crate::tenants::is_valid_app_name;

/// A configuration value that is missing or unusable. Each names the variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required value is absent.
    #[error("{what} is not set: set {var} (or pass {flag})")]
    Missing {
        /// What the value is for.
        what: &'static str,
        /// The environment variable.
        var: &'static str,
        /// The flag.
        flag: &'static str,
    },
    /// A value is present but unusable.
    #[error("{var} is invalid: {reason}")]
    Invalid {
        /// The environment variable.
        var: &'static str,
        /// Why.
        reason: String,
    },
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (production; Fly's log shipper parses it).
    Json,
    /// Human-readable lines (local development).
    Text,
}

/// The router's flags and environment variables. (No `Debug`: it holds secrets; [`Settings`]
/// has a redacting one.)
#[derive(Clone, Parser)]
// `args_override_self`: a flag given twice takes its last value, so a wrapper (a test
// harness, a script) can override one setting without rebuilding the whole command line.
#[command(
    name = "roost-router",
    version,
    about = "roost's router: tenants, provisioning and fly-replay routing",
    args_override_self = true
)]
pub struct Config {
    /// The router's public base URL, e.g. `https://mcp.example.com`. The MCP URL users paste
    /// into their clients is `<this>/mcp`; it is also the audience of every access token.
    #[arg(long, env = "ROOST_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// The token issuer (`iss`). Default: the public URL.
    #[arg(long, env = "ROOST_ISSUER")]
    pub issuer: Option<String>,

    /// Where the router keeps its files; the default SQLite database lives here.
    #[arg(long, env = "ROOST_DATA_DIR", default_value = "/data")]
    pub data_dir: PathBuf,

    /// Database URL: `sqlite://<path>` (one router machine) or `postgres://…` (several).
    /// Default: `sqlite://<data dir>/roost.db`, created if missing.
    #[arg(long, env = "ROOST_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Address to listen on.
    #[arg(long, env = "ROOST_HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,

    /// Port to listen on (`PORT`, as Fly and flylocal tell a machine its port).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,

    /// The Ed25519 private key that signs access tokens, as PKCS#8 PEM
    /// (`openssl genpkey -algorithm ed25519`). Set it as a Fly secret. Its public half is
    /// published at `/.well-known/jwks.json` and trusted for verification.
    #[arg(long, env = "ROOST_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<String>,

    /// Extra public keys whose tokens are still accepted (key rotation): a JWKS document, a
    /// JWK, or PEM public keys. Also published in the JWKS so workspaces accept them too.
    #[arg(long, env = "ROOST_TOKEN_KEYS", hide_env_values = true)]
    pub token_keys: Option<String>,

    /// The Fly Machines API. Inside Fly, `http://_api.internal:4280` avoids the public
    /// internet; `roost dev` points this at flylocal.
    #[arg(
        long,
        env = "ROOST_FLY_API_URL",
        default_value = "https://api.machines.dev"
    )]
    pub fly_api_url: String,

    /// An org-scoped Fly API token (`fly tokens create org`): creating apps needs one.
    #[arg(long, env = "FLY_API_TOKEN", hide_env_values = true)]
    pub fly_api_token: Option<String>,

    /// The Fly organization tenant apps are created in.
    #[arg(long, env = "ROOST_FLY_ORG", default_value = "personal")]
    pub fly_org: String,

    /// The tenant machine template (see `fly.user.toml` at the repository root).
    #[arg(long, env = "ROOST_USER_TEMPLATE", default_value = "fly.user.toml")]
    pub user_template: PathBuf,

    /// Overrides the template's `[build] image` (pin by digest in production).
    #[arg(long, env = "ROOST_USER_IMAGE")]
    pub user_image: Option<String>,

    /// Region of new tenants' volumes and machines. Default: the template's `primary_region`.
    #[arg(long, env = "ROOST_TENANT_REGION")]
    pub tenant_region: Option<String>,

    /// Prefix of tenant ids and Fly app names: `<prefix><hash of the user id>`. Use a
    /// different prefix per deployment when two deployments share a Fly org.
    #[arg(long, env = "ROOST_APP_PREFIX", default_value = "roost-u-")]
    pub app_prefix: String,

    /// The JWKS URL tenant workspaces fetch keys from. Default: `<issuer>/.well-known/jwks.json`.
    #[arg(long, env = "ROOST_TENANT_JWKS_URL")]
    pub tenant_jwks_url: Option<String>,

    /// How long a request for a tenant that is still being provisioned waits before it gets
    /// 503 + `Retry-After` (the client retries and picks up where provisioning is).
    #[arg(long, env = "ROOST_PROVISION_WAIT", default_value = "20s", value_parser = humantime::parse_duration)]
    pub provision_wait: Duration,

    /// The `timeout` of every `fly-replay`: how long Fly's proxy keeps trying to reach the
    /// tenant (including starting its stopped machine) before it hands the request back.
    /// Keep it well above a cold start (fly.md §1.6).
    #[arg(long, env = "ROOST_REPLAY_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub replay_timeout: Duration,

    /// For a body too large to replay, which the router forwards itself: how long it waits for
    /// the tenant's response headers before answering 504. The response body (an SSE stream,
    /// say) is not bounded.
    #[arg(long, env = "ROOST_PROXY_RESPONSE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub proxy_response_timeout: Duration,

    /// Most token verdicts kept in memory (each until its token expires).
    #[arg(long, env = "ROOST_TOKEN_CACHE_SIZE", default_value_t = 100_000)]
    pub token_cache_size: u64,

    /// Most tenants kept in memory.
    #[arg(long, env = "ROOST_TENANT_CACHE_SIZE", default_value_t = 100_000)]
    pub tenant_cache_size: u64,

    /// How long a cached tenant is trusted at most (a backstop: changes made by this router
    /// take effect at once, changes by another router at its next --tenant-poll).
    #[arg(long, env = "ROOST_TENANT_CACHE_TTL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub tenant_cache_ttl: Duration,

    /// How often the router looks in the database for tenants another router changed (a
    /// suspension, a deletion) and drops them from its cache.
    #[arg(long, env = "ROOST_TENANT_POLL", default_value = "2s", value_parser = humantime::parse_duration)]
    pub tenant_poll: Duration,

    /// This router process's name in provisioning leases. Default: `FLY_MACHINE_ID`, so a
    /// restarted router machine picks its own unfinished work up at once; else a random id.
    #[arg(long, env = "ROOST_INSTANCE_ID")]
    pub instance_id: Option<String>,

    /// Bearer token of the tenant admin API (`/admin/v1/…`); unset disables the API. Use a
    /// long random value (`openssl rand -hex 32`) and set it as a Fly secret.
    #[arg(long, env = "ROOST_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Log format.
    #[arg(long, env = "ROOST_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,

    /// OAuth authorization server and sign-in (see `docs/oauth.md`).
    #[command(flatten)]
    pub oauth: crate::oauth::OAuthConfig,
}

/// The configuration after validation, with every derived value filled in.
#[derive(Clone)]
pub struct Settings {
    /// The public base URL, without a trailing slash.
    pub public_url: String,
    /// The MCP URL: `<public url>/mcp`; the tokens' audience.
    pub mcp_url: String,
    /// The token issuer.
    pub issuer: String,
    /// Database URL.
    pub database_url: String,
    /// Listen address.
    pub listen: SocketAddr,
    /// The key that signs tokens (none when the router only verifies).
    pub signing_key: Option<SigningKey>,
    /// The verifier holding every trusted public key.
    pub verifier: Verifier,
    /// `ROOST_TOKEN_KEYS` as given (public keys; republished and handed to tenants).
    pub token_keys: Option<String>,
    /// The Machines API base URL.
    pub fly_api_url: Url,
    /// The Fly API token (secret).
    pub fly_api_token: String,
    /// The Fly org slug.
    pub fly_org: String,
    /// The tenant template file.
    pub user_template: PathBuf,
    /// Image override.
    pub user_image: Option<String>,
    /// Region override.
    pub tenant_region: Option<String>,
    /// Tenant id prefix.
    pub app_prefix: String,
    /// The JWKS URL given to tenants.
    pub tenant_jwks_url: String,
    /// Bounded wait for a provisioning tenant.
    pub provision_wait: Duration,
    /// `fly-replay` timeout.
    pub replay_timeout: Duration,
    /// How long a proxied request waits for the tenant's response headers.
    pub proxy_response_timeout: Duration,
    /// Token cache bound.
    pub token_cache_size: u64,
    /// Tenant cache bound.
    pub tenant_cache_size: u64,
    /// Tenant cache TTL.
    pub tenant_cache_ttl: Duration,
    /// How often other routers' tenant changes are polled.
    pub tenant_poll: Duration,
    /// This router's lease-owner id.
    pub instance_id: String,
    /// The admin API token (secret), if the API is enabled.
    pub admin_token: Option<String>,
    /// Log format.
    pub log_format: LogFormat,
    /// OAuth authorization server and sign-in settings.
    pub oauth: crate::oauth::OAuthSettings,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets (signing key, Fly token, database URL with its password) stay out.
        f.debug_struct("Settings")
            .field("public_url", &self.public_url)
            .field("issuer", &self.issuer)
            .field("listen", &self.listen)
            .field(
                "signing_key",
                &self.signing_key.as_ref().map(SigningKey::kid),
            )
            .field("verifier_keys", &self.verifier.key_ids())
            .field("fly_api_url", &self.fly_api_url.as_str())
            .field("fly_org", &self.fly_org)
            .field("user_template", &self.user_template)
            .field("app_prefix", &self.app_prefix)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Validates the configuration and derives [`Settings`].
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let public_url = self.public_url.as_deref().ok_or(ConfigError::Missing {
            what: "the router's public URL",
            var: "ROOST_PUBLIC_URL",
            flag: "--public-url",
        })?;
        let public_url = base_url("ROOST_PUBLIC_URL", public_url)?;
        let mcp_url = format!("{public_url}/mcp");
        let issuer = match &self.issuer {
            Some(issuer) => base_url("ROOST_ISSUER", issuer)?,
            None => public_url.clone(),
        };

        let database_url = self
            .database_url
            .clone()
            .unwrap_or_else(|| Db::default_url(&self.data_dir));
        DbKind::of_url(&database_url).map_err(|e| ConfigError::Invalid {
            var: "ROOST_DATABASE_URL",
            reason: e.to_string(),
        })?;

        let signing_key = self
            .signing_key
            .as_deref()
            .map(SigningKey::from_pkcs8_pem)
            .transpose()
            .map_err(|e| ConfigError::Invalid {
                var: "ROOST_SIGNING_KEY",
                reason: e.to_string(),
            })?;
        let mut verifier = Verifier::new(issuer.clone(), mcp_url.clone());
        if let Some(key) = &signing_key {
            verifier
                .add_jwk(&key.public_jwk())
                .map_err(|e| ConfigError::Invalid {
                    var: "ROOST_SIGNING_KEY",
                    reason: e.to_string(),
                })?;
        }
        if let Some(text) = &self.token_keys {
            verifier
                .add_keys_from_str(text)
                .map_err(|e| ConfigError::Invalid {
                    var: "ROOST_TOKEN_KEYS",
                    reason: e.to_string(),
                })?;
        }
        if verifier.key_ids().is_empty() {
            return Err(ConfigError::Missing {
                what: "a token key (the router cannot verify any access token without one)",
                var: "ROOST_SIGNING_KEY",
                flag: "--signing-key",
            });
        }

        let fly_api_url = Url::parse(&self.fly_api_url).map_err(|e| ConfigError::Invalid {
            var: "ROOST_FLY_API_URL",
            reason: e.to_string(),
        })?;
        let fly_api_token = self
            .fly_api_token
            .clone()
            .filter(|t| !t.trim().is_empty())
            .ok_or(ConfigError::Missing {
                what: "the Fly API token",
                var: "FLY_API_TOKEN",
                flag: "--fly-api-token",
            })?;

        // The prefix plus a 12-digit hash plus a `-N` suffix must stay a valid app name.
        let sample = format!("{}0123456789ab-9", self.app_prefix);
        if !is_valid_app_name(&sample) {
            return Err(ConfigError::Invalid {
                var: "ROOST_APP_PREFIX",
                reason: format!(
                    "{:?} does not make valid Fly app names: use lowercase letters, digits and \
                     dashes, starting with a letter, at most 46 characters",
                    self.app_prefix
                ),
            });
        }

        let tenant_jwks_url = match &self.tenant_jwks_url {
            Some(url) => Url::parse(url)
                .map_err(|e| ConfigError::Invalid {
                    var: "ROOST_TENANT_JWKS_URL",
                    reason: e.to_string(),
                })?
                .to_string(),
            None => format!("{issuer}/.well-known/jwks.json"),
        };

        if self
            .admin_token
            .as_deref()
            .is_some_and(|t| !t.trim().is_empty() && t.len() < 32)
        {
            return Err(ConfigError::Invalid {
                var: "ROOST_ADMIN_TOKEN",
                reason: "use at least 32 characters (e.g. `openssl rand -hex 32`)".to_owned(),
            });
        }
        if self.replay_timeout < Duration::from_secs(5) {
            return Err(ConfigError::Invalid {
                var: "ROOST_REPLAY_TIMEOUT",
                reason: "must be at least 5s: a stopped tenant machine needs a cold start \
                         (about 2 s or more) before it can answer"
                    .to_owned(),
            });
        }
        if self.tenant_poll.is_zero() {
            return Err(ConfigError::Invalid {
                var: "ROOST_TENANT_POLL",
                reason: "must be more than 0s, e.g. 2s".to_owned(),
            });
        }
        if self.token_cache_size == 0 || self.tenant_cache_size == 0 {
            return Err(ConfigError::Invalid {
                var: if self.token_cache_size == 0 {
                    "ROOST_TOKEN_CACHE_SIZE"
                } else {
                    "ROOST_TENANT_CACHE_SIZE"
                },
                reason: "must be at least 1".to_owned(),
            });
        }

        let oauth = self
            .oauth
            .settings(&public_url, &mcp_url, &issuer)
            .map_err(|e| ConfigError::Invalid {
                var: e.var,
                reason: e.reason,
            })?;
        Ok(Settings {
            public_url,
            mcp_url,
            issuer,
            database_url,
            listen: SocketAddr::new(self.host, self.port),
            signing_key,
            verifier,
            token_keys: self.token_keys.clone(),
            fly_api_url,
            fly_api_token,
            fly_org: self.fly_org.clone(),
            user_template: self.user_template.clone(),
            user_image: self.user_image.clone(),
            tenant_region: self.tenant_region.clone(),
            app_prefix: self.app_prefix.clone(),
            tenant_jwks_url,
            provision_wait: self.provision_wait,
            replay_timeout: self.replay_timeout,
            proxy_response_timeout: self.proxy_response_timeout,
            token_cache_size: self.token_cache_size,
            tenant_cache_size: self.tenant_cache_size,
            tenant_cache_ttl: self.tenant_cache_ttl,
            tenant_poll: self.tenant_poll,
            admin_token: self.admin_token.clone().filter(|t| !t.trim().is_empty()),
            instance_id: self
                .instance_id
                .clone()
                .or_else(|| std::env::var("FLY_MACHINE_ID").ok())
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| format!("router-{}", uuid::Uuid::new_v4().simple())),
            log_format: self.log_format,
            oauth,
        })
    }
}

/// An `http(s)` URL with no query or fragment, returned without a trailing slash.
fn base_url(var: &'static str, value: &str) -> Result<String, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { var, reason };
    let url = Url::parse(value).map_err(|e| invalid(format!("{value:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "{value:?} must be an http:// or https:// URL"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!(
            "{value:?} must not have a query or fragment"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[&str]) -> Config {
        // `=` form: a PEM value starts with dashes, which clap would take for a flag.
        let key = format!("--signing-key={}", SigningKey::generate().to_pkcs8_pem());
        let mut args = vec![
            "roost-router",
            "--public-url",
            "https://mcp.example.com/",
            "--fly-api-token",
            "fm2_x",
            &key,
        ];
        args.extend_from_slice(extra);
        Config::try_parse_from(args).unwrap()
    }

    #[test]
    fn defaults_derive_the_mcp_url_issuer_and_sqlite_database() {
        let settings = config(&["--data-dir", "/srv/roost"]).settings().unwrap();
        assert_eq!(settings.public_url, "https://mcp.example.com");
        assert_eq!(settings.mcp_url, "https://mcp.example.com/mcp");
        assert_eq!(settings.issuer, "https://mcp.example.com");
        assert_eq!(settings.database_url, "sqlite:///srv/roost/roost.db");
        assert_eq!(
            settings.tenant_jwks_url,
            "https://mcp.example.com/.well-known/jwks.json"
        );
        assert_eq!(settings.verifier.key_ids().len(), 1);
        assert_eq!(settings.listen.port(), 8080);
    }

    #[test]
    fn a_short_admin_token_is_refused() {
        let err = config(&["--admin-token=letmein"])
            .settings()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ROOST_ADMIN_TOKEN") && err.contains("32"),
            "{err}"
        );
        let long = format!("--admin-token={}", "a".repeat(32));
        assert!(config(&[&long]).settings().unwrap().admin_token.is_some());
    }

    #[test]
    fn a_flag_given_twice_takes_its_last_value() {
        let settings = config(&["--app-prefix=first-", "--app-prefix=second-"])
            .settings()
            .unwrap();
        assert_eq!(settings.app_prefix, "second-");
    }

    #[test]
    fn missing_values_name_the_variable_to_set() {
        let mut c = config(&[]);
        c.public_url = None;
        assert!(
            c.settings()
                .unwrap_err()
                .to_string()
                .contains("ROOST_PUBLIC_URL")
        );

        let mut c = config(&[]);
        c.fly_api_token = None;
        assert!(
            c.settings()
                .unwrap_err()
                .to_string()
                .contains("FLY_API_TOKEN")
        );

        let mut c = config(&[]);
        c.signing_key = None;
        let err = c.settings().unwrap_err().to_string();
        assert!(err.contains("ROOST_SIGNING_KEY"), "{err}");
        // Verification-only routers may run on published keys alone.
        c.token_keys = Some(SigningKey::generate().public_key_pem());
        assert!(c.settings().unwrap().signing_key.is_none());
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_and_the_reason() {
        type Breakage = fn(&mut Config);
        let cases: [(&str, Breakage); 6] = [
            ("ROOST_PUBLIC_URL", |c| {
                c.public_url = Some("ftp://x".into())
            }),
            ("ROOST_DATABASE_URL", |c| {
                c.database_url = Some("mysql://x".into())
            }),
            ("ROOST_SIGNING_KEY", |c| {
                c.signing_key = Some("not a key".into())
            }),
            ("ROOST_APP_PREFIX", |c| c.app_prefix = "Roost_".into()),
            ("ROOST_REPLAY_TIMEOUT", |c| {
                c.replay_timeout = Duration::from_secs(1)
            }),
            ("ROOST_TOKEN_CACHE_SIZE", |c| c.token_cache_size = 0),
        ];
        for (var, break_it) in cases {
            let mut c = config(&[]);
            break_it(&mut c);
            let err = c.settings().unwrap_err().to_string();
            assert!(err.contains(var), "{var}: {err}");
        }
    }

    #[test]
    fn debug_output_holds_no_secrets() {
        let mut c = config(&[]);
        c.database_url = Some("postgres://roost:hunter2@db/roost".into());
        let text = format!("{:?}", c.settings().unwrap());
        assert!(
            !text.contains("hunter2") && !text.contains("fm2_x") && !text.contains("PRIVATE"),
            "{text}"
        );
    }
}
