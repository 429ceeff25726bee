//! The `roost-router` binary: parse the configuration, then hand over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = roost_router::config::Config::parse();
    let settings = config.settings()?;
    roost_router::telemetry::init(settings.log_format);
    let db = roost_router::db::Db::open(&settings.database_url).await?;
    tracing::info!(database = ?db.kind(), "database ready");
    Ok(())
}
