//! The tenant image of the end-to-end stack: the same program as the `roost-workspace` binary
//! (configuration from `ROOST_*` env, which the router sets on each machine). It is built as a
//! binary of this test crate so the tests can name it with `CARGO_BIN_EXE_roost-e2e-workspace`
//! (cargo builds a package's own binaries before its integration tests, not other packages').

use clap::Parser;
use roost_workspace::{Config, init_tracing, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    init_tracing(config.log_format);
    let listener = tokio::net::TcpListener::bind((config.host, config.port)).await?;
    run(listener, config, shutdown_signal()).await?;
    Ok(())
}

/// SIGINT or SIGTERM, as on Fly.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
