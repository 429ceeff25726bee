//! The server's configuration: flags and `ROOST_*` environment variables (clap derive), checked
//! once at start-up.
//!
//! Every field has a default that is right on Fly except the three that identify *this* tenant
//! and *its* token issuer (`tenant`, `issuer`, `audience`) and the verification keys, which the
//! router's provisioning sets as env vars on the Machine. Tests build a [`Config`] directly with
//! [`Config::for_tests`] instead of touching the process environment.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use clap::{Parser, ValueEnum};
use url::Url;

/// Errors found while validating the configuration. Each names the flag/variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required value is absent.
    #[error("{what} is not set: set {var} (or pass {flag})")]
    Missing {
        /// What the value is for.
        what: &'static str,
        /// The environment variable to set.
        var: &'static str,
        /// The command-line flag.
        flag: &'static str,
    },
    /// A value is present but unusable.
    #[error("{var} is invalid: {reason}")]
    Invalid {
        /// The environment variable holding the value.
        var: &'static str,
        /// Why it was refused.
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

/// Configuration of the per-user MCP server.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "roost-workspace",
    version,
    about = "The per-user roost MCP server"
)]
pub struct Config {
    /// This server's tenant id. On Fly it is the user's app name, so it falls back to
    /// `FLY_APP_NAME`; an access token is only accepted when its `tenant` claim equals it.
    #[arg(long, env = "ROOST_TENANT")]
    pub tenant: Option<String>,

    /// The token issuer (the router's public base URL); tokens with another `iss` are refused.
    #[arg(long, env = "ROOST_ISSUER")]
    pub issuer: Option<String>,

    /// The public MCP URL (e.g. `https://mcp.example.com/mcp`): the audience tokens must carry.
    #[arg(long, env = "ROOST_AUDIENCE")]
    pub audience: Option<String>,

    /// Token verification keys as text: a JWKS document, a single JWK, or an Ed25519 PEM public
    /// key. Give this and/or `--jwks-url`.
    #[arg(long, env = "ROOST_TOKEN_KEYS", hide_env_values = true)]
    pub token_keys: Option<String>,

    /// URL of the issuer's JWKS, fetched at start and re-fetched (at most every 30 s) when a
    /// token names a key id this server does not know yet (key rotation).
    #[arg(long, env = "ROOST_JWKS_URL")]
    pub jwks_url: Option<String>,

    /// URL of this server's RFC 9728 protected-resource metadata, named in 401 challenges.
    /// Default: `<audience origin>/.well-known/oauth-protected-resource<audience path>`.
    #[arg(long, env = "ROOST_RESOURCE_METADATA_URL")]
    pub resource_metadata_url: Option<String>,

    /// `Host` values accepted on `/mcp` (DNS-rebinding defence), comma-separated `host` or
    /// `host:port`. Default: the audience's host (and host:port). Fly's replay keeps the
    /// original `Host`, so the public name is the right default.
    #[arg(long, env = "ROOST_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Browser `Origin` values accepted on `/mcp`, comma-separated (e.g.
    /// `https://claude.ai`). Requests without `Origin` always pass; a present `Origin` not in
    /// this list gets 403. Default: the audience's origin only.
    #[arg(long, env = "ROOST_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Where everything the server keeps lives: `workspace/` (the user's files) and `roost.db`
    /// (notes and MCP sessions). On Fly this is the volume mount.
    #[arg(long, env = "ROOST_DATA_DIR", default_value = "/data")]
    pub data_dir: PathBuf,

    /// Address to listen on.
    #[arg(long, env = "ROOST_HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,

    /// Port to listen on. `PORT` because that is how the platform tells a Machine its port.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,

    /// Exit (status 0) after this long without MCP requests; open GET/listen streams do not
    /// count as activity. Fly's `on-failure` restart policy then leaves the Machine stopped.
    #[arg(long, env = "ROOST_IDLE_TIMEOUT", default_value = "10m", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,

    /// On SIGINT/SIGTERM, how long in-flight requests may take to finish before they are cut.
    #[arg(long, env = "ROOST_DRAIN_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,

    /// Interval of SSE keep-alive comments on open streams (below every proxy's idle timeout).
    #[arg(long, env = "ROOST_SSE_KEEP_ALIVE", default_value = "15s", value_parser = humantime::parse_duration)]
    pub sse_keep_alive: Duration,

    /// Largest accepted MCP request body, in bytes (larger → 413).
    #[arg(long, env = "ROOST_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Log format.
    #[arg(long, env = "ROOST_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,
}

/// The configuration after validation: every derived value filled in.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This server's tenant id.
    pub tenant: String,
    /// Accepted token issuer.
    pub issuer: String,
    /// Accepted token audience (the public MCP URL).
    pub audience: String,
    /// Key material given inline.
    pub token_keys: Option<String>,
    /// JWKS URL, if any.
    pub jwks_url: Option<Url>,
    /// Protected-resource metadata URL for 401 challenges.
    pub resource_metadata_url: String,
    /// Allowed `Host` values.
    pub allowed_hosts: Vec<String>,
    /// Allowed `Origin` values.
    pub allowed_origins: Vec<String>,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Idle timeout.
    pub idle_timeout: Duration,
    /// Drain timeout.
    pub drain_timeout: Duration,
    /// SSE keep-alive interval.
    pub sse_keep_alive: Duration,
    /// Body size cap.
    pub max_body_bytes: usize,
}

impl Config {
    /// A configuration for tests: every default, with the identity values given.
    pub fn for_tests(
        tenant: &str,
        issuer: &str,
        audience: &str,
        token_keys: &str,
        data_dir: PathBuf,
    ) -> Self {
        Self {
            tenant: Some(tenant.to_owned()),
            issuer: Some(issuer.to_owned()),
            audience: Some(audience.to_owned()),
            token_keys: Some(token_keys.to_owned()),
            jwks_url: None,
            resource_metadata_url: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            data_dir,
            host: IpAddr::from([127, 0, 0, 1]),
            port: 0,
            idle_timeout: Duration::from_secs(600),
            drain_timeout: Duration::from_secs(10),
            sse_keep_alive: Duration::from_secs(15),
            max_body_bytes: 4 * 1024 * 1024,
            log_format: LogFormat::Text,
        }
    }

    /// Check the configuration and derive the defaults that depend on other values.
    pub fn validate(&self) -> Result<Settings, ConfigError> {
        let tenant = self
            .tenant
            .clone()
            .or_else(|| std::env::var("FLY_APP_NAME").ok())
            .filter(|t| !t.trim().is_empty())
            .ok_or(ConfigError::Missing {
                what: "the tenant id",
                var: "ROOST_TENANT (or FLY_APP_NAME)",
                flag: "--tenant",
            })?;
        let issuer = required(&self.issuer, "the token issuer", "ROOST_ISSUER", "--issuer")?;
        let audience = required(
            &self.audience,
            "the public MCP URL (token audience)",
            "ROOST_AUDIENCE",
            "--audience",
        )?;
        let audience_url = Url::parse(&audience).map_err(|e| ConfigError::Invalid {
            var: "ROOST_AUDIENCE",
            reason: format!("{e}; expected an absolute URL such as https://mcp.example.com/mcp"),
        })?;
        let host = audience_url.host_str().ok_or(ConfigError::Invalid {
            var: "ROOST_AUDIENCE",
            reason: "the URL has no host".into(),
        })?;
        let jwks_url = self
            .jwks_url
            .as_deref()
            .map(Url::parse)
            .transpose()
            .map_err(|e| ConfigError::Invalid {
                var: "ROOST_JWKS_URL",
                reason: e.to_string(),
            })?;
        if self
            .token_keys
            .as_deref()
            .is_none_or(|k| k.trim().is_empty())
            && jwks_url.is_none()
        {
            return Err(ConfigError::Missing {
                what: "the token verification keys",
                var: "ROOST_TOKEN_KEYS or ROOST_JWKS_URL",
                flag: "--token-keys / --jwks-url",
            });
        }
        let origin = audience_url.origin().ascii_serialization();
        let resource_metadata_url = self.resource_metadata_url.clone().unwrap_or_else(|| {
            let path = audience_url.path().trim_end_matches('/');
            format!("{origin}/.well-known/oauth-protected-resource{path}")
        });
        let allowed_hosts = if self.allowed_hosts.is_empty() {
            let mut hosts = vec![host.to_owned()];
            if let Some(port) = audience_url.port() {
                hosts.push(format!("{host}:{port}"));
            }
            hosts
        } else {
            self.allowed_hosts.clone()
        };
        let allowed_origins = if self.allowed_origins.is_empty() {
            vec![origin]
        } else {
            self.allowed_origins.clone()
        };
        if self.idle_timeout.is_zero() {
            return Err(ConfigError::Invalid {
                var: "ROOST_IDLE_TIMEOUT",
                reason: "must be longer than zero (e.g. 10m)".into(),
            });
        }
        Ok(Settings {
            tenant,
            issuer,
            audience,
            token_keys: self.token_keys.clone().filter(|k| !k.trim().is_empty()),
            jwks_url,
            resource_metadata_url,
            allowed_hosts,
            allowed_origins,
            data_dir: self.data_dir.clone(),
            idle_timeout: self.idle_timeout,
            drain_timeout: self.drain_timeout,
            sse_keep_alive: self.sse_keep_alive,
            max_body_bytes: self.max_body_bytes,
        })
    }
}

fn required(
    value: &Option<String>,
    what: &'static str,
    var: &'static str,
    flag: &'static str,
) -> Result<String, ConfigError> {
    value
        .clone()
        .filter(|v| !v.trim().is_empty())
        .ok_or(ConfigError::Missing { what, var, flag })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::for_tests(
            "roost-u-abc",
            "https://auth.example.com",
            "https://mcp.example.com/mcp",
            "{\"keys\":[]}",
            PathBuf::from("/tmp/x"),
        )
    }

    #[test]
    fn derives_metadata_url_hosts_and_origins_from_the_audience() {
        let settings = config().validate().unwrap();
        assert_eq!(
            settings.resource_metadata_url,
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(settings.allowed_hosts, vec!["mcp.example.com"]);
        assert_eq!(settings.allowed_origins, vec!["https://mcp.example.com"]);
    }

    #[test]
    fn a_port_in_the_audience_is_allowed_in_host() {
        let mut c = config();
        c.audience = Some("http://127.0.0.1:8123/mcp".into());
        let settings = c.validate().unwrap();
        assert!(
            settings
                .allowed_hosts
                .contains(&"127.0.0.1:8123".to_owned())
        );
    }

    #[test]
    fn missing_values_name_the_variable_to_set() {
        let mut c = config();
        c.issuer = None;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("ROOST_ISSUER"), "{err}");

        let mut c = config();
        c.token_keys = None;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("ROOST_TOKEN_KEYS"), "{err}");

        let mut c = config();
        c.audience = Some("not a url".into());
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("ROOST_AUDIENCE"), "{err}");
    }

    #[test]
    fn defaults_are_the_fly_ones() {
        // Read the declared defaults, not a parse, so variables set in the test environment
        // (PORT on CI machines, say) cannot change the outcome.
        use clap::CommandFactory;
        let command = Config::command();
        let default = |id: &str| {
            command
                .get_arguments()
                .find(|a| a.get_id() == id)
                .and_then(|a| a.get_default_values().first())
                .map(|v| v.to_string_lossy().into_owned())
        };
        assert_eq!(default("port").as_deref(), Some("8080"));
        assert_eq!(default("idle_timeout").as_deref(), Some("10m"));
        assert_eq!(default("data_dir").as_deref(), Some("/data"));
        assert_eq!(default("sse_keep_alive").as_deref(), Some("15s"));
        assert_eq!(default("drain_timeout").as_deref(), Some("10s"));
    }
}
