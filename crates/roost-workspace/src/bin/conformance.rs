//! `roost-workspace-conformance`: the fixture server the MCP conformance suite runs against.
//! Built only with `--features conformance`; serves `http://127.0.0.1:<PORT>/mcp` without a
//! token gate. `PORT=0` picks a free port; the URL is printed as the first stdout line, which is
//! how `scripts/conformance` finds it.

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    roost_workspace::init_tracing(roost_workspace::LogFormat::Text);
    let port: u16 = std::env::var("PORT")
        .unwrap_or_else(|_| "0".into())
        .parse()
        .context("PORT must be a port number (0: any free port)")?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let address = listener.local_addr()?;
    println!("http://{address}/mcp");
    axum::serve(listener, roost_workspace::conformance::router())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
