//! The edge proxy: Fly's public proxy, locally. Accepts HTTP/1.1 connections, routes each
//! request by Host to an app's machine, honours `fly-replay` (see [`proxy`]), streams responses
//! as they come, and closes connections idle longer than the service's `idle_timeout`.
//!
//! Idle means no bytes in either direction on the client connection (fly.md §4.3): an SSE
//! stream that sends keep-alive comments stays open, one that goes quiet is cut, as on Fly.

mod idle;
mod proxy;
mod replay;
mod route;

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tracing::{debug, warn};

use crate::platform::Platform;
use idle::{Activity, IdleIo};

/// Serves the edge on `listener` until flylocal shuts down.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    platform: Arc<Platform>,
) -> std::io::Result<()> {
    let local_port = listener.local_addr()?.port();
    let shared = Arc::new(proxy::Shared::new(Arc::clone(&platform), local_port));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = platform.shutdown.cancelled() => return Ok(()),
        };
        match accepted {
            Ok((stream, peer)) => {
                tokio::spawn(connection(stream, peer, Arc::clone(&shared)));
            }
            // Accept errors (e.g. EMFILE) are per-connection; keep serving.
            Err(err) => warn!(error = %err, "edge accept failed"),
        }
    }
}

async fn connection(stream: tokio::net::TcpStream, peer: SocketAddr, shared: Arc<proxy::Shared>) {
    let _ = stream.set_nodelay(true);
    let platform = Arc::clone(&shared.platform);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(IdleIo::new(stream, Arc::clone(&activity)));
    let conn_activity = Arc::clone(&activity);
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        let activity = Arc::clone(&conn_activity);
        async move {
            Ok::<_, std::convert::Infallible>(
                proxy::handle(request, peer, &shared, &activity).await,
            )
        }
    });
    let conn = http1::Builder::new().serve_connection(io, service);
    tokio::select! {
        result = conn => {
            if let Err(err) = result {
                debug!(peer = %peer, error = %err, "edge connection ended with an error");
            }
        }
        () = activity.expired() => debug!(peer = %peer, "edge closed an idle connection"),
        () = platform.shutdown.cancelled() => {}
    }
}
