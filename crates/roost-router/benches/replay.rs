//! The replay decision under load: the router's `/mcp` (valid token, cached tenant) against a
//! bare axum handler that answers a fixed header, both in this process, measured one after the
//! other with `wrk` on the same machine. Run it with `bench/router.sh` (installs wrk if
//! missing); results go in `docs/benchmarks.md`.
//!
//! Knobs: `BENCH_SECONDS` (per run, default 10), `BENCH_CONNECTIONS` (default 32),
//! `BENCH_THREADS` (wrk threads, default 1: on a 2-core machine the other core serves),
//! `BENCH_REVOKED` (revoked access tokens the router holds while measured, default 10,000).

use std::process::Command;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::any;
use clap::Parser as _;
use roost_router::AppState;
use roost_router::config::Config;
use roost_router::proxy::FlyDns;
use roost_router::tenants::{Learned, TenantState, tenant_id_for_user};
use roost_token::{AccessClaims, SigningKey};
use tokio::net::TcpListener;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds = env_or("BENCH_SECONDS", "10");
    let connections = env_or("BENCH_CONNECTIONS", "32");
    let threads = env_or("BENCH_THREADS", "1");
    let revoked: usize = env_or("BENCH_REVOKED", "10000")
        .parse()
        .expect("BENCH_REVOKED is a number");

    let (router_url, token) = start_router(revoked).await;
    let bare_url = start_bare().await;

    // Warm both (token verdict and tenant cached, connections open), then measure.
    let wrk = |url: &str, duration: &str| {
        let output = Command::new("wrk")
            .args([
                "-t",
                &threads,
                "-c",
                &connections,
                "-d",
                duration,
                "--latency",
            ])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .arg(url)
            .output()
            .expect("running wrk (install it: apt-get install wrk, or run bench/router.sh)");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    wrk(&router_url, "2s");
    wrk(&bare_url, "2s");
    let bare = Result::parse(&wrk(&bare_url, &format!("{seconds}s")));
    let router = Result::parse(&wrk(&router_url, &format!("{seconds}s")));

    println!("| server | requests/s | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    for (name, r) in [
        ("bare axum handler (fixed header)", &bare),
        ("roost-router /mcp → fly-replay", &router),
    ] {
        println!("| {name} | {:.0} | {} | {} |", r.rps, r.p50, r.p99);
    }
    println!();
    println!("router / bare throughput: {:.2}×", router.rps / bare.rps);
    println!(
        "(wrk -t{threads} -c{connections} -d{seconds}s, {} cores, {revoked} revoked tokens on the router's books)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}

/// The router with one ready tenant; returns its MCP URL and a valid token for the tenant.
async fn start_router(revoked: usize) -> (String, String) {
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let key = SigningKey::generate();
    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fly.user.toml");
    let settings = Config::try_parse_from([
        "roost-router".to_owned(),
        format!("--public-url={url}"),
        format!("--signing-key={}", key.to_pkcs8_pem()),
        "--fly-api-token=bench".to_owned(),
        "--fly-api-url=http://127.0.0.1:9".to_owned(),
        format!("--data-dir={}", dir.display()),
        format!("--user-template={template}"),
    ])
    .unwrap()
    .settings()
    .unwrap();
    let state = AppState::start(settings, Arc::new(FlyDns))
        .await
        .expect("router starts");
    let tenant = tenant_id_for_user(&state.settings.app_prefix, "bench-user");
    let store = state.tenants.store();
    store.ensure_for_user("bench-user", &tenant).await.unwrap();
    for (from, to) in [
        (TenantState::Pending, TenantState::AppCreated),
        (TenantState::AppCreated, TenantState::VolumeCreated),
        (TenantState::VolumeCreated, TenantState::MachineCreated),
        (TenantState::MachineCreated, TenantState::Ready),
    ] {
        store
            .transition(&tenant, from, to, &Learned::default(), None)
            .await
            .unwrap();
    }
    let now = chrono::Utc::now().timestamp();
    let token = key
        .sign(&AccessClaims {
            iss: state.settings.issuer.clone(),
            aud: state.settings.mcp_url.clone(),
            sub: "bench-user".into(),
            tenant,
            scope: "roost:workspace roost:run".into(),
            client_id: "bench".into(),
            iat: now,
            nbf: now,
            exp: now + 3600,
            jti: "bench".into(),
        })
        .unwrap();
    // A busy deployment has revoked tokens on its books: every request is checked against
    // them, so the set the benchmark runs with is not empty.
    for n in 0..revoked {
        state
            .gate
            .revoked()
            .revoke(&format!("revoked-{n}"), now + 3600);
    }
    let mcp_url = state.settings.mcp_url.clone();
    tokio::spawn(roost_router::run(listener, state, std::future::pending()));
    (mcp_url, token)
}

/// The baseline: an axum handler that answers every request with one fixed header.
async fn start_bare() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    async fn fixed() -> impl IntoResponse {
        (
            [(
                header::HeaderName::from_static("fly-replay"),
                HeaderValue::from_static("app=roost-u-0123456789ab"),
            )],
            "",
        )
    }
    tokio::spawn(
        async move { axum::serve(listener, Router::new().route("/mcp", any(fixed))).await },
    );
    url
}

/// What one wrk run reported.
struct Result {
    rps: f64,
    p50: String,
    p99: String,
}

impl Result {
    fn parse(output: &str) -> Result {
        let field = |prefix: &str| {
            output
                .lines()
                .map(str::trim)
                .find_map(|line| line.strip_prefix(prefix))
                .map(|rest| rest.trim().to_owned())
                .unwrap_or_else(|| panic!("wrk output without {prefix:?}:\n{output}"))
        };
        Result {
            rps: field("Requests/sec:").parse().unwrap_or(0.0),
            p50: field("50%"),
            p99: field("99%"),
        }
    }
}
