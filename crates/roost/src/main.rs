//! The `roost` command: one binary for the things people type.
//!
//! * `roost dev`: the whole system locally: flylocal, the router, a workspace process per user
//!   ([`dev`]).
//! * `roost connect URL`: lets a stdio-only MCP client use a remote roost server, signing in
//!   with OAuth in the browser ([`connect`]).
//! * `roost admin …`: the operator CLI over the router's admin API, and `hash-password`
//!   ([`admin`]).
//!
//! Each subcommand lives in its own module with its own `Args`; this file only parses the
//! command line, sets up logging on stderr (stdout belongs to the subcommand: for `connect`
//! it is the MCP stream) and dispatches.

mod admin;
mod connect;
mod dev;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// roost: a private, per-user MCP server on Fly.io.
#[derive(Debug, Parser)]
#[command(name = "roost", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run roost locally: a local Fly platform, the router, and one workspace process per
    /// user; prints the MCP URL to paste into a client.
    Dev(dev::DevArgs),
    /// Connect a stdio MCP client to a remote roost (or any Streamable HTTP MCP server),
    /// signing in with OAuth in the browser when the server asks for it.
    Connect(connect::ConnectArgs),
    /// Operate a router: list, show, retry, suspend, resume and delete tenants (its admin
    /// API), and hash local-account passwords.
    Admin(admin::AdminArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr, never stdout. Quiet by default: `RUST_LOG=roost=debug` for detail.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("roost: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Dev(args) => dev::run(args).await,
            Command::Connect(args) => connect::run(args).await,
            Command::Admin(args) => admin::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roost: {e:#}");
            ExitCode::FAILURE
        }
    }
}
