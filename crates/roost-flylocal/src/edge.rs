//! placeholder
use std::sync::Arc;
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    platform: Arc<crate::platform::Platform>,
) -> std::io::Result<()> {
    let _ = (listener, platform);
    Ok(())
}
