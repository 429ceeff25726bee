//! `roost-workspace`: parse the configuration, bind, serve until idle or signalled, exit 0.
//!
//! Exit status matters on Fly: 0 (idle or signalled) leaves the Machine stopped under the
//! `on-failure` restart policy; a start-up error exits non-zero so Fly retries and logs it.

use clap::Parser;
use roost_workspace::{Config, init_tracing, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    init_tracing(config.log_format);
    let listener = tokio::net::TcpListener::bind((config.host, config.port)).await?;
    let exit = run(listener, config, shutdown_signal()).await?;
    tracing::info!(?exit, "exiting");
    Ok(())
}

/// SIGINT or SIGTERM (Fly sends SIGINT by default on stop, `kill_signal` can make it SIGTERM).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
