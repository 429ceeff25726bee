//! `roost connect` as an MCP client's stdio server would see it: the real binary, JSON-RPC
//! lines on its stdin and stdout, a real roost-workspace on the other side.
//!
//! These tests use `--token` (`ROOST_CONNECT_TOKEN`), the non-interactive mode; the OAuth
//! sign-in through the router is covered by the end-to-end tests in `tests/`.

use std::process::Stdio;
use std::time::Duration;

use roost_token::{AccessClaims, JwkSet, SigningKey};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::oneshot;

const TENANT: &str = "roost-u-connect";
const ISSUER: &str = "https://auth.roost.test";

/// A running workspace and the key that signs tokens for it.
struct Workspace {
    url: String,
    signer: SigningKey,
    data: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
}

impl Workspace {
    async fn start() -> Self {
        let signer = SigningKey::generate();
        let data = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let jwks = serde_json::to_string(&JwkSet {
            keys: vec![signer.public_jwk()],
        })
        .unwrap();
        let config =
            roost_workspace::Config::for_tests(TENANT, ISSUER, &url, &jwks, data.path().to_owned());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(roost_workspace::run(listener, config, async move {
            let _ = stopped.await;
        }));
        let health = url.replace("/mcp", "/livez");
        for _ in 0..200 {
            if reqwest::get(&health)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Self {
            url,
            signer,
            data,
            stop: Some(stop),
        }
    }

    fn token(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        self.signer
            .sign(&AccessClaims {
                iss: ISSUER.into(),
                aud: self.url.clone(),
                sub: "user-1".into(),
                tenant: TENANT.into(),
                scope: "roost:workspace roost:run".into(),
                client_id: "roost-connect-test".into(),
                iat: now,
                nbf: now,
                exp: now + 600,
                jti: format!("jti-{now}"),
            })
            .unwrap()
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `roost connect` as a child process with JSON-RPC over its stdio.
struct Shim {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    _config: tempfile::TempDir,
}

impl Shim {
    fn start(url: &str, token: &str) -> Self {
        let config = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_roost"))
            .args(["connect", url])
            .env("ROOST_CONNECT_TOKEN", token)
            .env("ROOST_CONFIG_DIR", config.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("roost binary");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child,
            stdin,
            stdout,
            _config: config,
        }
    }

    async fn send(&mut self, message: Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{message}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    async fn receive(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(20), self.stdout.next_line())
            .await
            .expect("a reply within 20 s")
            .unwrap()
            .expect("stdout open");
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"))
    }

    /// The reply to request `id`, skipping notifications.
    async fn reply(&mut self, id: u64) -> Value {
        loop {
            let message = self.receive().await;
            if message["id"] == id {
                return message;
            }
            assert!(
                message.get("method").is_some(),
                "unexpected message: {message}"
            );
        }
    }

    async fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
            .await;
        self.reply(id).await
    }

    /// Closes stdin and returns the exit status and what went to stderr.
    async fn finish(mut self) -> (std::process::ExitStatus, String) {
        drop(self.stdin.take());
        let mut stderr = String::new();
        tokio::io::AsyncReadExt::read_to_string(self.child.stderr.as_mut().unwrap(), &mut stderr)
            .await
            .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("exits")
            .unwrap();
        (status, stderr)
    }
}

fn initialize(version: &str) -> Value {
    json!({
        "protocolVersion": version,
        "capabilities": {},
        "clientInfo": { "name": "stdio-client", "version": "1.0.0" }
    })
}

fn text(reply: &Value) -> String {
    reply["result"]["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["text"].as_str())
        .collect()
}

#[tokio::test]
async fn a_stdio_client_uses_a_remote_workspace_through_a_legacy_session() {
    let workspace = Workspace::start().await;
    let mut shim = Shim::start(&workspace.url, &workspace.token());

    let init = shim
        .request(1, "initialize", initialize("2025-11-25"))
        .await;
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25", "{init}");
    assert_eq!(
        init["result"]["serverInfo"]["name"], "roost-workspace",
        "{init}"
    );
    shim.send(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
        .await;

    // Later requests only work if the shim sends the session id and protocol version.
    let tools = shim.request(2, "tools/list", json!({})).await;
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"write_file") && names.contains(&"read_file"),
        "{tools}"
    );

    let written = shim
        .request(3, "tools/call", json!({ "name": "write_file", "arguments": { "path": "via-connect.txt", "content": "hello over stdio\n" } }))
        .await;
    assert_ne!(written["result"]["isError"], true, "{written}");
    let read = shim
        .request(
            4,
            "tools/call",
            json!({ "name": "read_file", "arguments": { "path": "via-connect.txt" } }),
        )
        .await;
    assert!(text(&read).contains("hello over stdio"), "{read}");
    assert_eq!(
        std::fs::read_to_string(workspace.data.path().join("workspace/via-connect.txt")).unwrap(),
        "hello over stdio\n"
    );

    let (status, stderr) = shim.finish().await;
    assert!(
        status.success(),
        "roost connect exits cleanly when the client closes stdin: {stderr}"
    );
}

#[tokio::test]
async fn a_2026_client_gets_its_headers_mirrored() {
    let workspace = Workspace::start().await;
    let mut shim = Shim::start(&workspace.url, &workspace.token());
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "stdio-client", "version": "1.0.0" }
    });
    // The workspace refuses a 2026-07-28 tools/call whose Mcp-Method/Mcp-Name headers are
    // missing (400, -32020); the shim derives them from the body.
    let call = shim
        .request(
            1,
            "tools/call",
            json!({ "name": "write_file", "arguments": { "path": "modern.txt", "content": "stateless\n" }, "_meta": meta }),
        )
        .await;
    assert_eq!(call["result"]["resultType"], "complete", "{call}");
    let discover = shim
        .request(2, "server/discover", json!({ "_meta": meta }))
        .await;
    assert!(
        discover["result"]["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28")),
        "{discover}"
    );
    let (status, _) = shim.finish().await;
    assert!(status.success());
}

#[tokio::test]
async fn a_refused_token_is_an_answer_not_a_hang() {
    let workspace = Workspace::start().await;
    let mut shim = Shim::start(&workspace.url, "not-a-token");
    let reply = shim
        .request(1, "initialize", initialize("2025-11-25"))
        .await;
    let message = reply["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("an error reply: {reply}"));
    assert!(message.contains("refused the access token"), "{message}");
    let (status, stderr) = shim.finish().await;
    assert!(status.success());
    assert!(
        stderr.contains("refused the access token (401 Unauthorized)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_explained() {
    let mut shim = Shim::start("http://127.0.0.1:9/mcp", "any");
    let reply = shim
        .request(1, "initialize", initialize("2025-11-25"))
        .await;
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("cannot reach http://127.0.0.1:9/mcp"),
        "{message}"
    );
    let (_, stderr) = shim.finish().await;
    assert!(stderr.contains("check the URL"), "{stderr}");
}

#[tokio::test]
async fn a_line_that_is_not_json_gets_a_parse_error() {
    let mut shim = Shim::start("http://127.0.0.1:9/mcp", "any");
    shim.stdin
        .as_mut()
        .unwrap()
        .write_all(b"{not json\n")
        .await
        .unwrap();
    let reply = shim.receive().await;
    assert_eq!(reply["error"]["code"], -32700, "{reply}");
    assert!(reply["id"].is_null());
    let (status, _) = shim.finish().await;
    assert!(status.success());
}

#[tokio::test]
async fn server_notifications_reach_the_client_on_the_session_stream() {
    let workspace = Workspace::start().await;
    let token = workspace.token();
    let mut watcher = Shim::start(&workspace.url, &token);
    watcher
        .request(1, "initialize", initialize("2025-11-25"))
        .await;
    watcher
        .send(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
        .await;
    let subscribed = watcher
        .request(
            2,
            "resources/subscribe",
            json!({ "uri": "workspace:///watched.txt" }),
        )
        .await;
    assert!(subscribed.get("result").is_some(), "{subscribed}");

    // Another session changes the file: the watcher only hears of it through the GET stream
    // its shim keeps open for server-initiated messages.
    let mut writer = Shim::start(&workspace.url, &token);
    writer
        .request(1, "initialize", initialize("2025-11-25"))
        .await;
    writer
        .send(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
        .await;
    let written = writer
        .request(2, "tools/call", json!({ "name": "write_file", "arguments": { "path": "watched.txt", "content": "changed\n" } }))
        .await;
    assert_ne!(written["result"]["isError"], true, "{written}");

    let notification = watcher.receive().await;
    assert_eq!(
        notification["method"], "notifications/resources/updated",
        "{notification}"
    );
    assert_eq!(
        notification["params"]["uri"], "workspace:///watched.txt",
        "{notification}"
    );
    writer.finish().await;
    watcher.finish().await;
}
