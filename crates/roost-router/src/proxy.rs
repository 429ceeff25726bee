//! The reverse proxy for requests Fly's proxy cannot replay: bodies over 1 MiB, or bodies of
//! unknown length (fly.md §1.6). The router forwards them itself to the tenant's machine over
//! the private network (`<machine>.vm.<app>.internal`), streaming both ways.
//!
//! A replay would have woken a stopped machine through autostart; a direct connection does
//! not. So the router first tries to connect to the machine's private address, and only when
//! nothing answers there does it start the machine through the Machines API. The hot case (a
//! running machine) makes no API call: the Fly client's rate limits are per action for the
//! whole router and shared with provisioning, so one user looping large bodies must not spend
//! them. The cold case waits at most [`START_TIMEOUT`] in all (rate-limiter slot included) and
//! then answers 503 + `Retry-After`. How a private name becomes an address is a
//! [`PrivateNetwork`]: DNS on Fly, flylocal's lookup in development.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, header};
use axum::response::Response;
use futures::future::BoxFuture;
use roost_fly::types::MachineState;
use roost_fly::{FlyClient, FlyError};
use url::Url;

use crate::error::ApiError;
use crate::server::AppState;
use crate::tenants::cache::Route;

/// How long starting a stopped machine may take in all (waiting for a Machines API rate-limit
/// slot, the start call, the wait for `started`) before the request gets 503.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the probe connection to a machine's private address may take. The private network
/// answers in milliseconds; a stopped machine refuses (or never answers).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a forwarded request waits for the tenant's response headers by default
/// (`ROOST_PROXY_RESPONSE_TIMEOUT`).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// The `Retry-After` of a request whose machine did not start in time.
pub const START_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Why a request could not be forwarded.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The tenant has no machine yet.
    #[error("tenant {0} has no machine")]
    NoMachine(String),
    /// Starting the machine failed.
    #[error("starting machine {machine} of {app}: {source}")]
    Start {
        /// The app.
        app: String,
        /// The machine.
        machine: String,
        /// Fly's answer.
        source: FlyError,
    },
    /// The machine was not running and starting it took longer than allowed (the Machines API
    /// is slow or its rate limit is spent).
    #[error("machine {machine} of {app} did not start within {waited:?}")]
    StartTimedOut {
        /// The app.
        app: String,
        /// The machine.
        machine: String,
        /// How long the request waited.
        waited: Duration,
    },
    /// The private name did not resolve.
    #[error("cannot resolve {host}: {why}")]
    Resolve {
        /// The name.
        host: String,
        /// Why.
        why: String,
    },
    /// The tenant accepted the request but sent no response headers in time.
    #[error("{addr} sent no response headers within {waited:?}")]
    ResponseTimedOut {
        /// Where.
        addr: SocketAddr,
        /// How long the request waited.
        waited: Duration,
    },
    /// The tenant did not answer.
    #[error("forwarding to {addr}: {source}")]
    Upstream {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: reqwest::Error,
    },
}

/// Turns a tenant machine's private name into an address to connect to.
pub trait PrivateNetwork: Send + Sync {
    /// The address of `host:port`, where `host` is `<machine>.vm.<app>.internal`.
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<SocketAddr, ProxyError>>;
}

/// Fly's private network: `.internal` names resolve through the machine's DNS (6PN).
#[derive(Debug, Clone, Copy, Default)]
pub struct FlyDns;

impl PrivateNetwork for FlyDns {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<SocketAddr, ProxyError>> {
        Box::pin(async move {
            let resolve_error = |why: String| ProxyError::Resolve {
                host: host.to_owned(),
                why,
            };
            tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| resolve_error(e.to_string()))?
                .next()
                .ok_or_else(|| resolve_error("no address".to_owned()))
        })
    }
}

/// flylocal's private network: `GET <api>/flylocal/v1/resolve?host=…&port=…`.
#[derive(Debug, Clone)]
pub struct FlyLocalNetwork {
    api_url: Url,
    http: reqwest::Client,
}

impl FlyLocalNetwork {
    /// Resolves through the flylocal Machines API at `api_url`.
    pub fn new(api_url: Url) -> Self {
        FlyLocalNetwork {
            api_url,
            http: reqwest::Client::new(),
        }
    }
}

impl PrivateNetwork for FlyLocalNetwork {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<SocketAddr, ProxyError>> {
        Box::pin(async move {
            let resolve_error = |why: String| ProxyError::Resolve {
                host: host.to_owned(),
                why,
            };
            let mut url = self
                .api_url
                .join("/flylocal/v1/resolve")
                .map_err(|e| resolve_error(e.to_string()))?;
            url.query_pairs_mut()
                .append_pair("host", host)
                .append_pair("port", &port.to_string());
            #[derive(serde::Deserialize)]
            struct Answer {
                addr: String,
            }
            let answer: Answer = self
                .http
                .get(url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| resolve_error(e.to_string()))?
                .json()
                .await
                .map_err(|e| resolve_error(e.to_string()))?;
            answer
                .addr
                .parse()
                .map_err(|e: std::net::AddrParseError| resolve_error(e.to_string()))
        })
    }
}

/// Forwards requests to tenant machines. Cheap to clone.
#[derive(Clone)]
pub struct Forwarder {
    fly: FlyClient,
    network: Arc<dyn PrivateNetwork>,
    http: reqwest::Client,
    internal_port: u16,
    /// [`START_TIMEOUT`]; shorter in tests.
    start_timeout: Duration,
    /// How long to wait for response headers.
    response_timeout: Duration,
}

impl Forwarder {
    /// A forwarder that starts machines through `fly`, finds them through `network`, and
    /// connects to `internal_port`.
    pub fn new(fly: FlyClient, network: Arc<dyn PrivateNetwork>, internal_port: u16) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            // No overall timeout: MCP responses may be long-lived SSE streams.
            .build()
            .unwrap_or_default();
        Forwarder {
            fly,
            network,
            http,
            internal_port,
            start_timeout: START_TIMEOUT,
            response_timeout: RESPONSE_TIMEOUT,
        }
    }

    /// Waits at most `timeout` for a tenant's response headers (default [`RESPONSE_TIMEOUT`]).
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Sends `request` to the tenant's machine and streams the answer back.
    pub async fn forward(&self, route: &Route, request: Request) -> Result<Response, ProxyError> {
        let machine = route
            .machine_id
            .as_deref()
            .ok_or_else(|| ProxyError::NoMachine(route.tenant_id.clone()))?;
        let host = format!("{machine}.vm.{}.internal", route.app_name);
        let addr = match self.reachable(&host).await {
            Some(addr) => addr,
            None => {
                self.start(&route.app_name, machine).await?;
                self.network.resolve(&host, self.internal_port).await?
            }
        };

        let (parts, body) = request.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let url = format!("http://{addr}{path}");
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        let send = self
            .http
            .request(parts.method, url)
            // The original Host stays: the workspace checks it against its public name.
            .headers(headers)
            .body(reqwest::Body::wrap_stream(body.into_data_stream()))
            .send();
        // `send` ends with the response headers; the body streams afterwards, unbounded.
        let upstream = tokio::time::timeout(self.response_timeout, send)
            .await
            .map_err(|_| ProxyError::ResponseTimedOut {
                addr,
                waited: self.response_timeout,
            })?
            .map_err(|source| ProxyError::Upstream { addr, source })?;

        let mut response = Response::builder().status(upstream.status());
        if let Some(headers) = response.headers_mut() {
            headers.extend(upstream.headers().clone());
            strip_hop_by_hop(headers);
        }
        Ok(response
            .body(Body::from_stream(upstream.bytes_stream()))
            .unwrap_or_else(|_| Response::new(Body::empty())))
    }

    /// The machine's address when something accepts connections there: the common case, which
    /// needs no Machines API call. `None` when the name does not resolve (flylocal resolves
    /// started machines only) or the connection fails: the machine is probably stopped.
    async fn reachable(&self, host: &str) -> Option<SocketAddr> {
        let addr = self.network.resolve(host, self.internal_port).await.ok()?;
        match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => Some(addr),
            _ => None,
        }
    }

    /// [`Forwarder::ensure_started`] within the start timeout.
    async fn start(&self, app: &str, machine: &str) -> Result<(), ProxyError> {
        match tokio::time::timeout(self.start_timeout, self.ensure_started(app, machine)).await {
            Ok(started) => started,
            Err(_elapsed) => Err(ProxyError::StartTimedOut {
                app: app.to_owned(),
                machine: machine.to_owned(),
                waited: self.start_timeout,
            }),
        }
    }

    /// Starts the machine when it is not running and waits until it is.
    async fn ensure_started(&self, app: &str, machine: &str) -> Result<(), ProxyError> {
        let start_error = |source| ProxyError::Start {
            app: app.to_owned(),
            machine: machine.to_owned(),
            source,
        };
        let current = self
            .fly
            .get_machine(app, machine)
            .await
            .map_err(start_error)?;
        if current.state == MachineState::Started {
            return Ok(());
        }
        tracing::info!(app, machine, state = %current.state, "starting the tenant machine for a proxied request");
        if let Err(e) = self.fly.start_machine(app, machine, None).await {
            // 412: it is already starting (or stopping); waiting settles it either way.
            if e.kind != roost_fly::FlyErrorKind::Precondition {
                return Err(start_error(e));
            }
        }
        self.fly
            .wait_for_state(
                app,
                machine,
                &MachineState::Started,
                None,
                self.start_timeout,
            )
            .await
            .map_err(start_error)
    }
}

/// Removes the headers that describe one connection, not the request (RFC 9110 §7.6.1).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named_in_connection: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named_in_connection {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ] {
        headers.remove(name);
    }
}

/// The hot path's branch for bodies Fly cannot replay.
pub async fn forward(
    state: &AppState,
    route: &Route,
    request: Request,
) -> Result<Response, ApiError> {
    state.forwarder.forward(route, request).await.map_err(|e| {
        tracing::warn!(tenant = %route.tenant_id, app = %route.app_name, error = %e, "could not proxy a large request");
        match e {
            ProxyError::StartTimedOut { .. } => ApiError::WorkspaceStarting {
                retry_after: START_RETRY_AFTER,
            },
            ProxyError::ResponseTimedOut { .. } => ApiError::WorkspaceTimeout,
            _ => ApiError::BadGateway,
        }
    })
}

#[cfg(test)]
mod tests;
