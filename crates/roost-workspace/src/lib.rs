//! roost-workspace: the MCP server each roost user gets on their own Fly Machine.
//!
//! It serves Streamable HTTP at `/mcp` for both protocol eras (2026-07-28 stateless requests and
//! ≤ 2025-11-25 sessions), behind a token gate that accepts only this tenant's access tokens. The
//! tools work on the user's volume: files in `<data dir>/workspace`, a shell there, and notes in
//! `<data dir>/roost.db`. The server exits 0 after an idle period so the Machine stops, and keeps
//! legacy sessions in SQLite so clients need not re-initialize after a stop.
//!
//! Library use — adding your own tools:
//!
//! ```no_run
//! # async fn example(config: roost_workspace::Config) -> anyhow::Result<()> {
//! use roost_workspace::{Workspace, run_with_tools};
//! let tools = Workspace::builtin_tools(); // + your routes, e.g. .with_async_tool::<MyTool>()
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! run_with_tools(listener, config, tools, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

mod app;
pub mod auth;
pub mod config;
pub mod idle;
pub mod metrics;
pub mod server;
pub mod sessions;
pub mod tools;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use app::{Exit, run, run_with_tools};
pub use config::{Config, LogFormat};
pub use server::Workspace;

/// Install the tracing subscriber for the binary (JSON lines or text, `RUST_LOG` filter).
pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
