//! `roost-flylocal`: the local Fly platform as a standalone process. A thin main: flags and
//! `FLYLOCAL_*` env vars become a [`Config`], then [`roost_flylocal::run`] serves until Ctrl-C.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Parser;
use roost_flylocal::{Config, ImageSpec, Listeners};

/// The local Fly platform: Machines API + edge proxy with fly-replay; machines are processes.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address of the Machines API (point FLY_API_HOSTNAME-style settings here).
    #[arg(long, env = "FLYLOCAL_API_ADDR", default_value = "127.0.0.1:4280")]
    api_addr: SocketAddr,
    /// Address of the edge proxy (what a browser or MCP client talks to).
    #[arg(long, env = "FLYLOCAL_EDGE_ADDR", default_value = "127.0.0.1:8080")]
    edge_addr: SocketAddr,
    /// Folder for volumes, machine working dirs and machine logs.
    #[arg(long, env = "FLYLOCAL_DATA_DIR", default_value = ".flylocal")]
    data_dir: PathBuf,
    /// Image mapping `IMAGE=/path/to/executable` (repeatable; `IMAGE` may end in `*`).
    #[arg(long = "image", env = "FLYLOCAL_IMAGES", value_delimiter = ',')]
    images: Vec<String>,
    /// TOML file of image mappings: `[images."registry.fly.io/app*"] command = "…"`, `args`, `env`.
    #[arg(long, env = "FLYLOCAL_IMAGES_FILE")]
    images_file: Option<PathBuf>,
    /// Env var that tells a machine process its local port.
    #[arg(long, env = "FLYLOCAL_PORT_ENV", default_value = "PORT")]
    port_env: String,
    /// App for edge requests whose Host names no known app.
    #[arg(long, env = "FLYLOCAL_DEFAULT_APP")]
    default_app: Option<String>,
    /// App served by a process flylocal did not start, `APP=HOST:PORT` (repeatable).
    #[arg(
        long = "external-app",
        env = "FLYLOCAL_EXTERNAL_APPS",
        value_delimiter = ','
    )]
    external_apps: Vec<String>,
    /// Token the API requires; unset accepts any token (an Authorization header is still required).
    #[arg(long, env = "FLYLOCAL_API_TOKEN", hide_env_values = true)]
    api_token: Option<String>,
    /// Turn off Fly's per-action rate limits (429s).
    #[arg(long, env = "FLYLOCAL_NO_RATE_LIMITS")]
    no_rate_limits: bool,
    /// Organisation slug the platform hosts.
    #[arg(long, env = "FLYLOCAL_ORG", default_value = "personal")]
    org: String,
    /// Echo machine stdout/stderr into flylocal's own log (they always go to <data-dir>/logs).
    #[arg(long, env = "FLYLOCAL_ECHO_OUTPUT")]
    echo_output: bool,
    /// Region of every machine and volume.
    #[arg(long, env = "FLYLOCAL_REGION", default_value = "lcl")]
    region: String,

    /// Save apps, machines, volumes and secrets to this JSON file after every change and load
    /// them from it at start (running machines come back `stopped`). Unset: memory only.
    #[arg(long, env = "FLYLOCAL_STATE_FILE")]
    state_file: Option<PathBuf>,
}

#[derive(Debug, serde::Deserialize)]
struct ImagesFile {
    images: HashMap<String, ImageSpec>,
}

fn config(args: Args) -> anyhow::Result<Config> {
    let mut config = Config::new(args.data_dir);
    if let Some(path) = &args.images_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --images-file {}", path.display()))?;
        let file: ImagesFile =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        config.images.extend(file.images);
    }
    for mapping in &args.images {
        let Some((image, command)) = mapping.split_once('=') else {
            bail!("--image {mapping:?} must look like IMAGE=/path/to/executable");
        };
        config
            .images
            .insert(image.to_owned(), ImageSpec::new(command));
    }
    for mapping in &args.external_apps {
        let (app, addr) = mapping
            .split_once('=')
            .with_context(|| format!("--external-app {mapping:?} must look like APP=HOST:PORT"))?;
        let addr = addr
            .parse()
            .with_context(|| format!("--external-app {mapping:?}: bad address"))?;
        config.external_apps.insert(app.to_owned(), addr);
    }
    config.port_env = args.port_env;
    config.default_app = args.default_app;
    config.api_token = args.api_token;
    config.rate_limits = !args.no_rate_limits;
    config.org = args.org;
    config.region = args.region;
    config.foreign_apps = BTreeSet::new();
    config.echo_machine_output = args.echo_output;
    config.state_file = args.state_file;
    Ok(config)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let (api_addr, edge_addr) = (args.api_addr, args.edge_addr);
    let config = config(args)?;
    let listeners = Listeners {
        api: tokio::net::TcpListener::bind(api_addr)
            .await
            .with_context(|| format!("binding the API on {api_addr}"))?,
        edge: tokio::net::TcpListener::bind(edge_addr)
            .await
            .with_context(|| format!("binding the edge on {edge_addr}"))?,
    };
    // The bound addresses, not the requested ones: port 0 picks a free port.
    println!(
        "flylocal: Machines API on http://{}, edge on http://{}",
        listeners.api.local_addr()?,
        listeners.edge.local_addr()?
    );
    roost_flylocal::run(listeners, config, shutdown_signal()).await
}

/// Ctrl-C or SIGTERM: either way flylocal stops its machine processes before exiting (they run
/// in their own process groups, so nothing else would).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Config> {
        let mut argv = vec!["roost-flylocal"];
        argv.extend_from_slice(args);
        config(Args::try_parse_from(argv)?)
    }

    #[test]
    fn image_flags_and_file_build_the_image_map() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("images.toml");
        std::fs::write(
            &file,
            "[images.\"registry.fly.io/ws*\"]\ncommand = \"/bin/ws\"\nargs = [\"serve\"]\nenv = { A = \"1\" }\n",
        )
        .expect("write");
        let config = parse(&[
            "--image",
            "echo=/bin/echo",
            "--images-file",
            file.to_str().expect("utf-8"),
            "--external-app",
            "roost=127.0.0.1:9000",
        ])
        .expect("valid flags");
        assert_eq!(config.images["echo"].command, PathBuf::from("/bin/echo"));
        assert_eq!(config.images["registry.fly.io/ws*"].args, ["serve"]);
        assert_eq!(
            config.external_apps["roost"],
            "127.0.0.1:9000".parse().expect("addr")
        );
        assert!(config.rate_limits);
    }

    #[test]
    fn malformed_mappings_say_what_shape_is_expected() {
        let err = parse(&["--image", "no-equals-sign"]).expect_err("refused");
        assert!(
            err.to_string().contains("IMAGE=/path/to/executable"),
            "{err}"
        );
        let err = parse(&["--external-app", "roost=not-an-addr"]).expect_err("refused");
        assert!(format!("{err:#}").contains("bad address"), "{err:#}");
    }
}
