//! The tenant machine template: `fly.user.toml`, read once at start-up, turned into the
//! Machines API config of every tenant machine.
//!
//! The file is a fly.toml (fly.md §4) so operators edit a format they know, but only the keys
//! below are read; the router, not `fly deploy`, creates tenant machines, so everything else in
//! the file is ignored. Settings that would break roost (a tenant that cannot wake, or one that
//! is restarted when it stops itself) are refused at start-up with the key to change.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use roost_fly::types::{
    Autostop, Concurrency, GuestConfig, MachineCheck, MachineConfig, MachinePort, MachineService,
    Mount, RestartConfig, RestartPolicy, StopConfig,
};
use serde::Deserialize;

/// The metadata key that tags every Fly resource with its tenant (look-before-create finds
/// resources by it after an ambiguous failure).
pub const TENANT_TAG: &str = "roost_tenant";

/// Why the template could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The file could not be read.
    #[error("cannot read the tenant template {path} (set ROOST_USER_TEMPLATE): {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("the tenant template {path} is not a valid fly.toml: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What the parser said.
        message: String,
    },
    /// A key has a value roost cannot run with.
    #[error("the tenant template {path}: {message}")]
    Unusable {
        /// The file.
        path: String,
        /// Which key and what to do.
        message: String,
    },
}

/// The parts of a fly.toml the template uses.
#[derive(Debug, Clone, Default, Deserialize)]
struct FlyToml {
    primary_region: Option<String>,
    kill_signal: Option<String>,
    #[serde(default, with = "humantime_serde::option")]
    kill_timeout: Option<Duration>,
    #[serde(default)]
    build: Build,
    #[serde(default)]
    env: BTreeMap<String, String>,
    http_service: Option<HttpService>,
    #[serde(default)]
    vm: Vec<Vm>,
    #[serde(default)]
    restart: Vec<Restart>,
    mounts: Option<Mounts>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Build {
    image: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct HttpService {
    #[serde(default = "default_internal_port")]
    internal_port: u16,
    auto_stop_machines: Option<toml::Value>,
    auto_start_machines: Option<bool>,
    concurrency: Option<TomlConcurrency>,
    #[serde(default)]
    checks: Vec<HttpCheck>,
}

fn default_internal_port() -> u16 {
    8080
}

#[derive(Debug, Clone, Deserialize)]
struct TomlConcurrency {
    #[serde(rename = "type")]
    kind: Option<String>,
    soft_limit: Option<u32>,
    hard_limit: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
struct HttpCheck {
    #[serde(default, with = "humantime_serde::option")]
    grace_period: Option<Duration>,
    #[serde(default, with = "humantime_serde::option")]
    interval: Option<Duration>,
    #[serde(default, with = "humantime_serde::option")]
    timeout: Option<Duration>,
    method: Option<String>,
    path: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Vm {
    cpu_kind: Option<String>,
    cpus: Option<u32>,
    memory_mb: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
struct Restart {
    policy: Option<String>,
    retries: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
struct Mounts {
    source: Option<String>,
    destination: Option<String>,
    initial_size: Option<String>,
}

/// The tenant machine template, validated.
#[derive(Debug, Clone)]
pub struct MachineTemplate {
    /// The image every tenant machine runs.
    pub image: String,
    /// Default region for new tenants (`primary_region`).
    pub primary_region: Option<String>,
    /// The volume's name (`[mounts] source`).
    pub volume_name: String,
    /// Where the volume is mounted (`[mounts] destination`), `/data` by default.
    pub volume_path: String,
    /// The volume size in GB (`[mounts] initial_size`), 1 by default.
    pub volume_size_gb: u32,
    /// The port the workspace listens on inside the machine.
    pub internal_port: u16,
    config: MachineConfig,
}

/// Per-tenant values the template is completed with.
#[derive(Debug, Clone)]
pub struct TenantEnv<'a> {
    /// The tenant id (`ROOST_TENANT`).
    pub tenant: &'a str,
    /// The token issuer (`ROOST_ISSUER`).
    pub issuer: &'a str,
    /// The MCP URL, the tokens' audience (`ROOST_AUDIENCE`).
    pub audience: &'a str,
    /// Where to fetch the issuer's keys (`ROOST_JWKS_URL`).
    pub jwks_url: &'a str,
    /// The public keys inline (`ROOST_TOKEN_KEYS`), so a workspace verifies even when it
    /// cannot reach the JWKS URL at boot.
    pub token_keys: &'a str,
}

impl MachineTemplate {
    /// Reads and validates the template at `path`; `image` overrides `[build] image`.
    pub fn load(path: &Path, image: Option<&str>) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string(), image)
    }

    /// Parses template text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &str, image: Option<&str>) -> Result<Self, TemplateError> {
        let toml: FlyToml = toml::from_str(text).map_err(|e| TemplateError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let unusable = |message: String| TemplateError::Unusable {
            path: path.to_owned(),
            message,
        };

        let image = image
            .map(str::to_owned)
            .or(toml.build.image.clone())
            .filter(|i| !i.trim().is_empty())
            .ok_or_else(|| {
                unusable("`[build] image` is not set (or set ROOST_USER_IMAGE)".to_owned())
            })?;
        let service = toml.http_service.clone().ok_or_else(|| {
            unusable(
                "`[http_service]` is missing: tenants need an HTTP service to be replayed to"
                    .to_owned(),
            )
        })?;
        if service.auto_start_machines == Some(false) {
            return Err(unusable(
                "`http_service.auto_start_machines = false` would leave an idle tenant stopped \
                 forever: the workspace stops itself and a replay must start it again. Set it to true."
                    .to_owned(),
            ));
        }
        match &service.auto_stop_machines {
            None => {}
            Some(toml::Value::Boolean(false)) => {}
            Some(toml::Value::String(s)) if s == "off" => {}
            Some(other) => {
                return Err(unusable(format!(
                    "`http_service.auto_stop_machines = {other}`: the workspace stops itself when \
                     idle, so Fly's autostop must be \"off\" (it stops at most one machine per \
                     region per pass and would cut live streams)"
                )));
            }
        }
        let restart = toml.restart.first();
        let policy = match restart
            .and_then(|r| r.policy.as_deref())
            .unwrap_or("on-failure")
        {
            "on-failure" => RestartPolicy::OnFailure,
            "never" | "no" => RestartPolicy::No,
            "always" => {
                return Err(unusable(
                    "`[[restart]] policy = \"always\"` would restart a workspace that exited because \
                     it was idle, so it would never stop: use \"on-failure\""
                        .to_owned(),
                ));
            }
            other => {
                return Err(unusable(format!(
                    "`[[restart]] policy = {other:?}` is not a restart policy"
                )));
            }
        };
        let mounts = toml.mounts.clone();
        let volume_name = mounts
            .as_ref()
            .and_then(|m| m.source.clone())
            .unwrap_or_else(|| "data".to_owned());
        if volume_name.is_empty()
            || !volume_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(unusable(format!(
                "`[mounts] source = {volume_name:?}`: volume names are letters, digits and underscores"
            )));
        }
        let volume_path = mounts
            .as_ref()
            .and_then(|m| m.destination.clone())
            .unwrap_or_else(|| "/data".to_owned());
        let volume_size_gb = match mounts.as_ref().and_then(|m| m.initial_size.as_deref()) {
            None => 1,
            Some(size) => parse_size_gb(size).ok_or_else(|| {
                unusable(format!(
                    "`[mounts] initial_size = {size:?}`: use a size such as \"1gb\""
                ))
            })?,
        };

        let vm = toml.vm.first();
        let guest = vm.map(|vm| GuestConfig {
            cpu_kind: vm.cpu_kind.clone(),
            cpus: vm.cpus,
            memory_mb: vm.memory_mb,
            ..GuestConfig::default()
        });
        let port = |port: u16, handlers: &[&str]| MachinePort {
            port: Some(port),
            handlers: handlers.iter().map(|h| (*h).to_owned()).collect(),
            ..MachinePort::default()
        };
        let checks = service
            .checks
            .iter()
            .map(|check| MachineCheck {
                kind: Some("http".to_owned()),
                port: Some(service.internal_port),
                interval: check.interval.map(Into::into),
                timeout: check.timeout.map(Into::into),
                grace_period: check.grace_period.map(Into::into),
                method: Some(check.method.clone().unwrap_or_else(|| "GET".to_owned())),
                path: check.path.clone(),
                protocol: Some("http".to_owned()),
                ..MachineCheck::default()
            })
            .collect();
        let config = MachineConfig {
            image: image.clone(),
            env: toml.env.clone(),
            guest,
            // Services on 80 and 443 like the router's, because a replay is matched to the
            // target service by the port the request came in on (fly.md §1.1).
            services: vec![MachineService {
                protocol: Some("tcp".to_owned()),
                internal_port: Some(service.internal_port),
                ports: vec![port(80, &["http"]), port(443, &["tls", "http"])],
                concurrency: service.concurrency.map(|c| Concurrency {
                    kind: c.kind,
                    soft_limit: c.soft_limit,
                    hard_limit: c.hard_limit,
                }),
                // Explicitly true: the docs list the default as false (fly.md §2.3).
                autostart: Some(true),
                autostop: Some(Autostop::Off),
                checks,
                ..MachineService::default()
            }],
            restart: Some(RestartConfig {
                policy: Some(policy),
                max_retries: restart.and_then(|r| r.retries),
            }),
            stop_config: (toml.kill_signal.is_some() || toml.kill_timeout.is_some()).then(|| {
                StopConfig {
                    signal: toml.kill_signal.clone(),
                    timeout: toml.kill_timeout.map(Into::into),
                }
            }),
            ..MachineConfig::default()
        };
        Ok(MachineTemplate {
            image,
            primary_region: toml.primary_region,
            volume_name,
            volume_path,
            volume_size_gb,
            internal_port: service.internal_port,
            config,
        })
    }

    /// The machine config of one tenant: the template with the tenant's volume mounted, its
    /// env filled in and its tag set.
    pub fn machine_config(&self, volume_id: &str, env: &TenantEnv<'_>) -> MachineConfig {
        let mut config = self.config.clone();
        config.mounts = vec![Mount {
            volume: volume_id.to_owned(),
            path: self.volume_path.clone(),
            ..Mount::default()
        }];
        for (key, value) in [
            ("ROOST_TENANT", env.tenant),
            ("ROOST_ISSUER", env.issuer),
            ("ROOST_AUDIENCE", env.audience),
            ("ROOST_JWKS_URL", env.jwks_url),
            ("ROOST_TOKEN_KEYS", env.token_keys),
            ("ROOST_DATA_DIR", &self.volume_path),
        ] {
            config.env.insert(key.to_owned(), value.to_owned());
        }
        config
            .env
            .insert("PORT".to_owned(), self.internal_port.to_string());
        config
            .metadata
            .insert(TENANT_TAG.to_owned(), env.tenant.to_owned());
        config
    }
}

/// `"1gb"`, `"10GB"`, `"1"` → GB.
fn parse_size_gb(size: &str) -> Option<u32> {
    let lower = size.trim().to_ascii_lowercase();
    let digits = lower.strip_suffix("gb").unwrap_or(&lower).trim();
    digits.parse().ok().filter(|n| *n > 0)
}

#[cfg(test)]
mod tests;
