//! One request through the edge: buffer the body (up to the replay limit), pick a machine,
//! forward, and while the answer is a `fly-replay`, send the *original* request again to the
//! target it names (fly.md §1.1), with `fly-replay-src`, transforms, `timeout` + `fallback`
//! and the limits (PA01 body > 1 MiB, PA02 more than 10 replays).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt as _;
use http::header::{CONTENT_TYPE, HOST, TRANSFER_ENCODING};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use tokio::time::Instant;
use tracing::{debug, info};

use super::idle::Activity;
use super::replay::{self, Directive, Fallback};
use super::route::{self, Pick, RoundRobin, Target, Unreachable};
use crate::platform::Platform;

/// Fly replays bodies up to 1 MiB (fly.md §1.6; PageSpace found exactly 1,048,576 bytes pass).
pub(crate) const MAX_REPLAY_BODY: usize = 1024 * 1024;
/// A request may be replayed at most 10 times (PA02).
const MAX_REPLAYS: u32 = 10;
/// Largest JSON replay body read from an upstream.
const MAX_REPLAY_JSON: usize = 64 * 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Body type of everything the edge sends and answers.
pub(crate) type ProxyBody = BoxBody<Bytes, BoxError>;

/// State shared by every edge connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub platform: Arc<Platform>,
    rr: RoundRobin,
    local_port: u16,
}

impl Shared {
    pub(crate) fn new(platform: Arc<Platform>, local_port: u16) -> Self {
        Self {
            platform,
            rr: RoundRobin::default(),
            local_port,
        }
    }
}

/// The client's request body: all of it, or the first MiB and the rest still streaming.
enum Body {
    Buffered(Bytes),
    Oversize {
        prefix: Vec<Bytes>,
        rest: Incoming,
    },
    /// An oversize body already sent once: it cannot be replayed.
    Spent,
}

async fn buffer(mut incoming: Incoming) -> Result<Body, hyper::Error> {
    let mut chunks = Vec::new();
    let mut len = 0;
    while let Some(frame) = incoming.frame().await {
        if let Ok(data) = frame?.into_data() {
            len += data.len();
            chunks.push(data);
            if len > MAX_REPLAY_BODY {
                return Ok(Body::Oversize {
                    prefix: chunks,
                    rest: incoming,
                });
            }
        }
    }
    Ok(Body::Buffered(chunks.concat().into()))
}

impl Body {
    /// The body for one hop; an oversize body can be sent once.
    fn for_hop(&mut self) -> ProxyBody {
        match std::mem::replace(self, Body::Spent) {
            Body::Buffered(bytes) => {
                *self = Body::Buffered(bytes.clone());
                Full::new(bytes)
                    .map_err(|never: Infallible| match never {})
                    .boxed()
            }
            Body::Oversize { prefix, rest } => {
                let head = futures::stream::iter(
                    prefix
                        .into_iter()
                        .map(|b| Ok::<_, BoxError>(Frame::data(b))),
                );
                let tail = rest
                    .into_data_stream()
                    .map(|r| r.map(Frame::data).map_err(BoxError::from));
                http_body_util::BodyExt::boxed(StreamBody::new(head.chain(tail)))
            }
            Body::Spent => Full::new(Bytes::new())
                .map_err(|never: Infallible| match never {})
                .boxed(),
        }
    }

    fn replayable(&self) -> bool {
        matches!(self, Body::Buffered(_))
    }
}

/// What the next hop sends: path and headers evolve with replays and transforms.
#[derive(Clone)]
struct Outgoing {
    path: String,
    headers: HeaderMap,
}

/// The machine that answered with a replay, for `fly-replay-src` and a fallback.
struct Replayer {
    app: String,
    machine_id: String,
    outgoing: Outgoing,
}

/// Serves one client request.
pub(crate) async fn handle(
    request: Request<Incoming>,
    peer: SocketAddr,
    shared: &Shared,
    activity: &Activity,
) -> Response<ProxyBody> {
    let (parts, incoming) = request.into_parts();
    let Some(app) = app_for(&shared.platform, &parts.headers) else {
        return edge_error(
            StatusCode::NOT_FOUND,
            "PR01",
            "no app matches this Host and no default app is set",
        );
    };
    let mut body = match buffer(incoming).await {
        Ok(body) => body,
        Err(err) => {
            return edge_error(
                StatusCode::BAD_REQUEST,
                "PU02",
                &format!("could not read the request body: {err}"),
            );
        }
    };
    let outgoing = Outgoing {
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), ToString::to_string),
        headers: proxy_headers(&parts, peer, shared),
    };
    route_and_forward(&parts, app, outgoing, &mut body, shared, activity).await
}

/// The app a request is for: the Host's first label if it names an app, else the default.
fn app_for(platform: &Platform, headers: &HeaderMap) -> Option<String> {
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    let label = host.split('.').next().unwrap_or_default();
    let known = platform.config.external_apps.contains_key(label)
        || platform.store.lock().apps.contains_key(label);
    if known {
        Some(label.to_owned())
    } else {
        platform.config.default_app.clone()
    }
}

/// The original headers plus the ones Fly's proxy adds (fly.md §1.4). Host is kept. A
/// client-sent `fly-replay-src` is passed through untouched on the first hop (what Fly does is
/// UNVERIFIED), so the router's refusal of such requests can be tested locally.
fn proxy_headers(parts: &Parts, peer: SocketAddr, shared: &Shared) -> HeaderMap {
    let mut headers = parts.headers.clone();
    for hop in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    ] {
        headers.remove(hop);
    }
    headers.remove(TRANSFER_ENCODING);
    let ip = peer.ip().to_string();
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(existing) => format!("{existing}, {ip}"),
        None => ip.clone(),
    };
    let port = shared.local_port.to_string();
    let set = [
        ("fly-client-ip", ip.as_str()),
        ("x-forwarded-for", &forwarded_for),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-port", &port),
        ("fly-forwarded-port", &port),
        ("x-forwarded-ssl", "off"),
        ("fly-region", &shared.platform.config.region),
        ("via", "1.1 fly.io"),
    ];
    for (name, value) in set {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    headers
}

async fn route_and_forward(
    parts: &Parts,
    app: String,
    mut outgoing: Outgoing,
    body: &mut Body,
    shared: &Shared,
    activity: &Activity,
) -> Response<ProxyBody> {
    let platform = &shared.platform;
    let region = platform.config.region.clone();
    let mut app = app;
    let mut pick = Pick::Any { exclude: None };
    let mut timeout = platform.config.wake_timeout;
    let mut fallback: Option<(Fallback, Replayer)> = None;
    let mut is_fallback = false;
    let mut replays = 0;
    loop {
        let started = Instant::now();
        let target = match route::select(platform, &shared.rr, &app, &pick, started + timeout).await
        {
            Ok(target) => target,
            Err(unreachable) => {
                let Some((mode, replayer)) = fallback.take() else {
                    return unreachable_response(&unreachable);
                };
                // fly-replay-failed goes back to the machine that replayed (fly.md §1.4).
                let failed = replay::replay_failed(
                    unreachable.instance.as_deref().unwrap_or(""),
                    &app,
                    &region,
                    &replayer.machine_id,
                    unreachable.reason,
                    started.elapsed(),
                );
                info!(app = %app, reason = unreachable.reason.as_str(), "replay failed; falling back");
                outgoing = replayer.outgoing;
                set_header(&mut outgoing.headers, "fly-replay-failed", &failed);
                pick = match mode {
                    Fallback::ForceSelf => Pick::Instance(replayer.machine_id),
                    Fallback::PreferSelf => Pick::Prefer(replayer.machine_id),
                };
                app = replayer.app;
                timeout = platform.config.wake_timeout;
                is_fallback = true;
                continue;
            }
        };
        activity.set_timeout(target.idle_timeout);
        let mut hop = outgoing.clone();
        if let Some(id) = &target.preferred_unavailable {
            set_header(&mut hop.headers, "fly-preferred-instance-unavailable", id);
        }
        let response = match send(parts, &hop, body.for_hop(), &target).await {
            Ok(response) => response,
            Err(err) => {
                return edge_error(
                    StatusCode::BAD_GATEWAY,
                    "PU02",
                    &format!("request to machine {} failed: {err}", target.machine_id),
                );
            }
        };
        let directive = match replay_directive(response).await {
            Ok(Answer::Pass(response)) => return response,
            Ok(Answer::Replay(directive)) => directive,
            Err(err) => return edge_error(StatusCode::BAD_GATEWAY, "PA03", &err.to_string()),
        };
        if is_fallback {
            return edge_error(
                StatusCode::BAD_GATEWAY,
                "PA03",
                "a fallback request may not issue another replay",
            );
        }
        if !body.replayable() {
            return edge_error(
                StatusCode::BAD_GATEWAY,
                "PA01",
                "request body is larger than 1 MiB and cannot be replayed",
            );
        }
        replays += 1;
        if replays > MAX_REPLAYS {
            return edge_error(
                StatusCode::BAD_GATEWAY,
                "PA02",
                "request was replayed more than 10 times",
            );
        }
        debug!(from = %target.machine_id, directive = ?directive, "following fly-replay");
        let replayer = Replayer {
            app: target.app.clone(),
            machine_id: target.machine_id.clone(),
            outgoing: outgoing.clone(),
        };
        apply(&mut outgoing, &directive, &target, &region);
        app = directive.app.clone().unwrap_or_else(|| target.app.clone());
        pick = if let Some(id) = &directive.instance {
            Pick::Instance(id.clone())
        } else if let Some(id) = &directive.prefer_instance {
            Pick::Prefer(id.clone())
        } else {
            Pick::Any {
                exclude: directive.elsewhere.then(|| target.machine_id.clone()),
            }
        };
        timeout = directive.timeout.unwrap_or(platform.config.wake_timeout);
        fallback = directive.fallback.map(|mode| (mode, replayer));
    }
}

/// Sets `fly-replay-src` and applies `transform` for the replayed request.
fn apply(outgoing: &mut Outgoing, directive: &Directive, from: &Target, region: &str) {
    let src = replay::replay_src(
        &from.machine_id,
        region,
        crate::time::unix_micros(),
        directive.state.as_deref(),
    );
    set_header(&mut outgoing.headers, "fly-replay-src", &src);
    let transform = &directive.transform;
    if let Some(path) = &transform.path {
        outgoing.path = if path.starts_with('/') {
            path.clone()
        } else {
            format!("/{path}")
        };
    }
    for name in &transform.delete_headers {
        outgoing.headers.remove(name.as_str());
    }
    for header in &transform.set_headers {
        set_header(&mut outgoing.headers, &header.name, &header.value);
    }
}

fn set_header(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        headers.insert(name, value);
    }
}

/// Sends one hop on a fresh connection to the machine.
async fn send(
    parts: &Parts,
    hop: &Outgoing,
    body: ProxyBody,
    target: &Target,
) -> Result<Response<Incoming>, BoxError> {
    let stream = tokio::net::TcpStream::connect(target.addr).await?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(err) = conn.await {
            debug!(error = %err, "upstream connection ended with an error");
        }
    });
    let mut request = Request::builder()
        .method(parts.method.clone())
        .uri(hop.path.as_str())
        .body(body)?;
    *request.headers_mut() = hop.headers.clone();
    Ok(sender.send_request(request).await?)
}

enum Answer {
    Pass(Response<ProxyBody>),
    Replay(Directive),
}

/// A replay answer (header or JSON body) becomes a directive; anything else streams through.
async fn replay_directive(response: Response<Incoming>) -> Result<Answer, replay::ReplayError> {
    if let Some(value) = response.headers().get("fly-replay") {
        let value = value.to_str().unwrap_or_default().to_owned();
        return replay::parse_header(&value).map(Answer::Replay);
    }
    let is_json_replay = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/vnd.fly.replay+json"));
    if is_json_replay {
        let limited = http_body_util::Limited::new(response.into_body(), MAX_REPLAY_JSON);
        let bytes = limited
            .collect()
            .await
            .map_err(|err| replay::ReplayError::BadJson(format!("could not read it: {err}")))?
            .to_bytes();
        return replay::parse_json(&bytes).map(Answer::Replay);
    }
    Ok(Answer::Pass(
        response.map(|body| body.map_err(BoxError::from).boxed()),
    ))
}

fn unreachable_response(unreachable: &Unreachable) -> Response<ProxyBody> {
    let status = match unreachable.code {
        "PA04" | "PA05" => StatusCode::BAD_GATEWAY,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    edge_error(status, unreachable.code, &unreachable.message)
}

/// The edge's own error answer: Fly's code in a header and in the text.
fn edge_error(status: StatusCode, code: &'static str, message: &str) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(Bytes::from(format!(
            "flylocal edge error {code}: {message}\n"
        )))
        .map_err(|never: Infallible| match never {})
        .boxed(),
    );
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("x-flylocal-error", HeaderValue::from_static(code));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn edge_errors_carry_the_fly_code() {
        let response = edge_error(StatusCode::BAD_GATEWAY, "PA02", "loop");
        assert_eq!(response.headers()["x-flylocal-error"], "PA02");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert!(String::from_utf8_lossy(&body).contains("PA02"));
    }
}
