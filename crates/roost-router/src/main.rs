//! The `roost-router` binary: parse the configuration, bind the listener, and hand over to the
//! library until SIGTERM or Ctrl-C.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use roost_router::AppState;
use roost_router::config::Config;
use roost_router::proxy::FlyDns;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Config::parse().settings()?;
    roost_router::telemetry::init(settings.log_format);
    let listen = settings.listen;
    // On Fly, tenant machines are reached over the private network by their `.internal` names.
    let state = AppState::start(settings, Arc::new(FlyDns)).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (set ROOST_HOST / PORT)"))?;
    roost_router::run(listener, state, shutdown_signal()).await?;
    tracing::info!("router stopped");
    Ok(())
}

/// SIGTERM (Fly's `kill_signal`) or Ctrl-C.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
