//! What a flylocal instance is told at start: listeners, where its data lives, which local
//! executable stands in for which image, and how strict it is (token, rate limits, faults).
//!
//! Tests and `roost dev` build these values directly; the binary builds them from flags.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::faults::Faults;

/// The two already-bound listeners flylocal serves: the Machines API and the edge proxy.
#[derive(Debug)]
pub struct Listeners {
    /// Where the Machines API (`/v1/...`) and flylocal's own `/flylocal/v1/...` endpoints listen.
    pub api: tokio::net::TcpListener,
    /// Where the edge proxy (Fly's public proxy, with `fly-replay`) listens.
    pub edge: tokio::net::TcpListener,
}

/// Everything a flylocal instance needs besides its listeners.
#[derive(Debug, Clone)]
pub struct Config {
    /// Root of flylocal's files: `volumes/<vol_id>/`, `machines/<id>/` (the ephemeral root
    /// filesystem, the process's working directory) and `logs/<id>.log`.
    pub data_dir: PathBuf,
    /// Image name → local executable. A key ending in `*` is a prefix rule
    /// (`registry.fly.io/roost-workspace*` matches every tag and digest); exact keys win.
    pub images: HashMap<String, ImageSpec>,
    /// The env var that tells a machine process which local port its first service listens on.
    pub port_env: String,
    /// Edge: the app for requests whose Host header names no known app.
    pub default_app: Option<String>,
    /// Apps served by a process flylocal did not start (e.g. the router inside `roost dev`).
    /// The edge routes to them and honours their `fly-replay` answers like any machine's.
    pub external_apps: HashMap<String, SocketAddr>,
    /// When set, every `/v1` call must carry this token (`Bearer`, `FlyV1` or both prefixes);
    /// when unset any token is accepted, but an `Authorization` header must still be present.
    pub api_token: Option<String>,
    /// Fault injection in force at start; change it later through the handle or over HTTP.
    pub faults: Faults,
    /// Enforce Fly's published per-action rate limits with 429s.
    pub rate_limits: bool,
    /// The one organisation slug this platform hosts.
    pub org: String,
    /// The region every machine and volume lands in, and the edge's `Fly-Region`.
    pub region: String,
    /// App names that exist "in another organisation": creating one answers 422 `name_taken`,
    /// getting one answers 403, as Fly does for globally taken names.
    pub foreign_apps: BTreeSet<String>,
    /// Also echo every machine's stdout/stderr through tracing (target `flylocal::machine`),
    /// besides writing it to `logs/<id>.log`.
    pub echo_machine_output: bool,
    /// How long the edge waits for an autostarted machine to accept connections when the
    /// replay names no `timeout`.
    pub wake_timeout: std::time::Duration,
    /// Where the platform's state (apps and their secrets, machines, volumes) is saved after
    /// every change and loaded from at start, so a restart keeps them as Fly does. Machines that
    /// were running load as `stopped`; volumes keep their folders. `None` (the default): the
    /// state lives in memory only and every start is an empty platform.
    pub state_file: Option<PathBuf>,
}

impl Config {
    /// A config with Fly's defaults, rooted at `data_dir`, with no images mapped yet.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            images: HashMap::new(),
            port_env: "PORT".to_owned(),
            default_app: None,
            external_apps: HashMap::new(),
            api_token: None,
            faults: Faults::default(),
            rate_limits: true,
            org: "personal".to_owned(),
            region: "lcl".to_owned(),
            foreign_apps: BTreeSet::new(),
            echo_machine_output: false,
            wake_timeout: std::time::Duration::from_secs(30),
            state_file: None,
        }
    }

    /// The executable that stands in for `image`, if one is mapped.
    pub(crate) fn image(&self, image: &str) -> Option<&ImageSpec> {
        if let Some(spec) = self.images.get(image) {
            return Some(spec);
        }
        self.images
            .iter()
            .filter_map(|(key, spec)| {
                let prefix = key.strip_suffix('*')?;
                image.starts_with(prefix).then_some((prefix.len(), spec))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, spec)| spec)
    }
}

/// The local program a machine runs for an image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct ImageSpec {
    /// Path of the executable.
    pub command: PathBuf,
    /// Arguments (the image's CMD); a machine's `config.init.cmd` replaces them.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment (the image's ENV); the machine's `config.env` wins over it.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl ImageSpec {
    /// An image that runs `command` with no arguments.
    pub fn new(command: impl Into<PathBuf>) -> Self {
        Self {
            command: command.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_image_beats_the_longest_prefix_rule() {
        let mut config = Config::new("/tmp/x");
        config
            .images
            .insert("registry.fly.io/*".into(), ImageSpec::new("/bin/any"));
        config
            .images
            .insert("registry.fly.io/ws*".into(), ImageSpec::new("/bin/ws"));
        config.images.insert(
            "registry.fly.io/ws:pinned".into(),
            ImageSpec::new("/bin/pinned"),
        );
        let command = |image: &str| config.image(image).map(|s| s.command.clone());
        assert_eq!(
            command("registry.fly.io/ws:pinned"),
            Some("/bin/pinned".into())
        );
        assert_eq!(
            command("registry.fly.io/ws@sha256:ab"),
            Some("/bin/ws".into())
        );
        assert_eq!(command("registry.fly.io/other"), Some("/bin/any".into()));
        assert_eq!(command("docker.io/nginx"), None);
    }
}
