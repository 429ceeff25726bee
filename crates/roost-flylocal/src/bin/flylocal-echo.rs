//! `flylocal-echo`: a toy machine image for trying flylocal and for its edge tests.
//!
//! It listens on `127.0.0.1:$PORT` and answers every request with JSON describing what it
//! received (method, path, headers, body length and SHA-256, its app, machine id and env).
//! Request headers steer it:
//! - `x-echo-replay: <value>` answers with `fly-replay: <value>`;
//!   `x-echo-replay-json: <json>` answers with the JSON replay form;
//!   `x-echo-replay-on: first` (default: only when the request has no `fly-replay-src`),
//!   `always`, or an app name / machine id (only there).
//!
//! Paths: `/sse?events=N&gap_ms=G&keepalive_ms=K` streams N events G ms apart with `: keepalive`
//! comments every K ms in between (0 = none); `/exit?code=N` answers, then exits with N;
//! `PUT /file?path=P` writes the body to P, `GET /file?path=P` reads it.
//! Env: `ECHO_EXIT_AT_START=N` exits at once with N; `ECHO_START_DELAY_MS` waits before
//! listening; `ECHO_NEVER_LISTEN=1` runs without ever listening; `ECHO_IGNORE_SIGNALS=1`
//! ignores SIGINT/SIGTERM (so a stop has to kill it). Signals are logged to stderr.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Some(code) = env("ECHO_EXIT_AT_START") {
        std::process::exit(code.parse().unwrap_or(1));
    }
    tokio::spawn(exit_on_signal());
    if let Some(delay) = env("ECHO_START_DELAY_MS").and_then(|d| d.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if env("ECHO_NEVER_LISTEN").is_some() {
        std::future::pending::<()>().await;
    }
    let port = env("PORT").unwrap_or_else(|| "8080".into());
    let listener = match tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("flylocal-echo: cannot listen on 127.0.0.1:{port}: {err}");
            std::process::exit(2);
        }
    };
    eprintln!("flylocal-echo: listening on 127.0.0.1:{port}");
    let app = Router::new()
        .route("/sse", get(sse))
        .route("/exit", any(exit))
        .route("/file", get(read_file).put(write_file))
        .fallback(echo);
    if let Err(err) = axum::serve(listener, app).await {
        eprintln!("flylocal-echo: {err}");
        std::process::exit(2);
    }
}

/// Exits 0 on SIGINT or SIGTERM, like a well-behaved server asked to stop.
async fn exit_on_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    let name = tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    };
    if env("ECHO_IGNORE_SIGNALS").is_some() {
        eprintln!("flylocal-echo: {name}, ignored");
        std::future::pending::<()>().await;
    }
    eprintln!("flylocal-echo: {name}, exiting");
    std::process::exit(0);
}

fn should_replay(headers: &HeaderMap) -> bool {
    let on = headers
        .get("x-echo-replay-on")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("first");
    match on {
        "first" => {
            !headers.contains_key("fly-replay-src") && !headers.contains_key("fly-replay-failed")
        }
        "always" => true,
        target => {
            env("FLY_APP_NAME").as_deref() == Some(target)
                || env("FLY_MACHINE_ID").as_deref() == Some(target)
        }
    }
}

async fn echo(request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    if should_replay(&parts.headers) {
        if let Some(value) = parts.headers.get("x-echo-replay") {
            return (StatusCode::OK, [("fly-replay", value.clone())], "").into_response();
        }
        if let Some(value) = parts.headers.get("x-echo-replay-json") {
            let json = value.as_bytes().to_vec();
            return (
                StatusCode::OK,
                [("content-type", "application/vnd.fly.replay+json")],
                json,
            )
                .into_response();
        }
    }
    let headers: BTreeMap<String, String> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    axum::Json(json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path_and_query().map_or("/", |p| p.as_str()),
        "headers": headers,
        "body_len": body.len(),
        "body_sha256": hex::encode(Sha256::digest(&body)),
        "app": env.get("FLY_APP_NAME"),
        "machine_id": env.get("FLY_MACHINE_ID"),
        "env": env,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct SseQuery {
    #[serde(default = "three")]
    events: u32,
    #[serde(default)]
    gap_ms: u64,
    #[serde(default)]
    keepalive_ms: u64,
}

fn three() -> u32 {
    3
}

async fn sse(Query(query): Query<SseQuery>) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        for i in 0..query.events {
            if i > 0 {
                let deadline = tokio::time::Instant::now() + Duration::from_millis(query.gap_ms);
                if query.keepalive_ms > 0 {
                    let every = Duration::from_millis(query.keepalive_ms);
                    while tokio::time::Instant::now() + every < deadline {
                        tokio::time::sleep(every).await;
                        if tx
                            .send(Bytes::from_static(b": keepalive\n\n"))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
                tokio::time::sleep_until(deadline).await;
            }
            if tx
                .send(Bytes::from(format!("data: {i}\n\n")))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), rx))
    });
    (
        [
            ("content-type", "text/event-stream"),
            ("cache-control", "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

#[derive(Deserialize)]
struct ExitQuery {
    code: i32,
}

async fn exit(Query(query): Query<ExitQuery>) -> &'static str {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        std::process::exit(query.code);
    });
    "exiting\n"
}

#[derive(Deserialize)]
struct FileQuery {
    path: String,
}

async fn write_file(Query(query): Query<FileQuery>, body: Bytes) -> Response {
    match tokio::fs::write(&query.path, &body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

async fn read_file(Query(query): Query<FileQuery>) -> Response {
    match tokio::fs::read(&query.path).await {
        Ok(bytes) => bytes.into_response(),
        Err(err) => (StatusCode::NOT_FOUND, err.to_string()).into_response(),
    }
}
