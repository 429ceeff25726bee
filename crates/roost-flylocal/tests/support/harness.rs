//! A flylocal on port 0 with `flylocal-echo` as its image, and a plain reqwest client: the tests
//! speak Fly's wire format themselves, never through roost-fly.
#![allow(dead_code)]

use std::time::Duration;

use reqwest::{Method, StatusCode};
use roost_flylocal::{Config, FlyLocal, ImageSpec, Listeners};
use serde_json::{Value, json};

/// The image name tests use; mapped to the `flylocal-echo` binary.
pub const ECHO_IMAGE: &str = "registry.fly.io/echo:test";

pub struct Harness {
    pub fly: FlyLocal,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
}

pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::new(dir.path());
        config.images.insert(
            "registry.fly.io/echo*".into(),
            ImageSpec::new(env!("CARGO_BIN_EXE_flylocal-echo")),
        );
        config.rate_limits = false;
        config.wake_timeout = Duration::from_secs(20);
        adjust(&mut config);
        let listeners = Listeners {
            api: tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind api"),
            edge: tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind edge"),
        };
        let fly = FlyLocal::start(listeners, config).expect("flylocal starts");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Self { fly, client, dir }
    }

    /// One API call with a token, JSON in and out.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.fly.api_url()))
            .header("authorization", "Bearer test-token");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("API reachable");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn create_app(&self, name: &str) {
        let answer = self
            .post("/v1/apps", json!({"name": name, "org_slug": "personal"}))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "create app {name}: {:?}",
            answer.body
        );
    }

    /// Creates a machine and returns its id.
    pub async fn create_machine(&self, app: &str, config: Value) -> String {
        let answer = self
            .post(
                &format!("/v1/apps/{app}/machines"),
                json!({"config": config}),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "create machine: {:?}",
            answer.body
        );
        answer.body["id"].as_str().expect("id").to_owned()
    }

    /// Waits (through the API) until the machine is in `state`.
    pub async fn wait_state(&self, app: &str, id: &str, state: &str) {
        let answer = self
            .get(&format!(
                "/v1/apps/{app}/machines/{id}/wait?state={state}&timeout=30"
            ))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "machine {id} never reached {state}: {:?}",
            answer.body
        );
    }

    pub async fn machine(&self, app: &str, id: &str) -> Value {
        self.get(&format!("/v1/apps/{app}/machines/{id}"))
            .await
            .body
    }

    /// The local address of a started machine's internal port, via the resolve endpoint.
    pub async fn resolve(&self, host: &str, port: u16) -> Option<String> {
        let url = format!(
            "{}/flylocal/v1/resolve?host={host}&port={port}",
            self.fly.api_url()
        );
        let response = self.client.get(url).send().await.expect("resolve");
        if response.status() != StatusCode::OK {
            return None;
        }
        let body: Value = response.json().await.expect("json");
        body["addr"].as_str().map(str::to_owned)
    }

    /// A request through the edge to `app` (by Host header).
    pub fn edge(&self, method: Method, app: &str, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.fly.edge_url()))
            .header("host", format!("{app}.fly.dev"))
    }
}

/// A machine config running the echo image with one HTTP service on 8080.
pub fn echo_config(autostart: bool) -> Value {
    json!({
        "image": ECHO_IMAGE,
        "services": [{
            "protocol": "tcp",
            "internal_port": 8080,
            "autostart": autostart,
            "autostop": "off",
            "ports": [{"port": 443, "handlers": ["tls", "http"]}, {"port": 80, "handlers": ["http"]}]
        }],
        "restart": {"policy": "on-failure", "max_retries": 3},
        "stop_config": {"signal": "SIGINT", "timeout": "5s"}
    })
}

/// Polls `check` until it holds, for up to 20 s (generous: CI boxes are loaded).
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Whether a process with this pid still exists (and is not a zombie).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}
