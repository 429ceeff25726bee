//! `roost connect` signing in for real: the whole stack (flylocal's edge, the router with the
//! development sign-in, workspace processes), the binary on stdio, and an HTTP client standing
//! in for the browser. The first connection registers, signs in through the loopback redirect
//! and stores the tokens (asking only for the scope the challenge names); a second run reuses
//! them without a browser; a token the server no longer accepts is refreshed without a
//! browser; a command that needs more scope signs in again for it (step-up) and is retried.

#[path = "../../../tests/support/stack.rs"]
#[allow(dead_code)] // the e2e tests use more of the harness
mod stack;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use stack::{Stack, StackOptions};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::mpsc;

/// The tenant image: the `roost-workspace` binary next to `roost` (cargo's profile folder),
/// built when this package was tested on its own.
fn workspace_bin() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_roost")).with_file_name("roost-workspace");
    if !path.is_file() {
        let status =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["build", "-p", "roost-workspace", "--bin", "roost-workspace"])
                .status()
                .expect("running cargo");
        assert!(status.success(), "building roost-workspace");
    }
    path
}

struct Shim {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: mpsc::UnboundedReceiver<String>,
}

impl Shim {
    fn start(url: &str, config_dir: &Path) -> Self {
        Self::start_with(url, config_dir, &[])
    }

    fn start_with(url: &str, config_dir: &Path, flags: &[&str]) -> Self {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_roost"))
            .args(["connect", "--no-browser"])
            .args(flags)
            .arg(url)
            .env("ROOST_CONFIG_DIR", config_dir)
            .env_remove("ROOST_CONNECT_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("roost binary");
        let (tx, stderr) = mpsc::unbounded_channel();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send(line);
            }
        });
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child,
            stdin,
            stdout,
            stderr,
        }
    }

    async fn send(&mut self, id: u64, method: &str, params: Value) {
        let message = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let stdin = self.stdin.as_mut().unwrap();
        stdin
            .write_all(format!("{message}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    async fn reply(&mut self, id: u64) -> Value {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(60), self.stdout.next_line())
                .await
                .expect("a reply within 60 s")
                .unwrap()
                .expect("stdout open");
            let message: Value = serde_json::from_str(&line).unwrap();
            if message["id"] == id {
                return message;
            }
        }
    }

    /// The sign-in link `roost connect` prints on stderr.
    async fn sign_in_link(&mut self) -> String {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(30), self.stderr.recv())
                .await
                .expect("a sign-in link within 30 s")
                .expect("stderr open");
            // The authorization URL (PKCE is always in it); skip any other line.
            if let Some(start) = line.find("http")
                && line.contains("code_challenge=")
            {
                return line[start..].trim().to_owned();
            }
        }
    }

    /// Everything on stderr so far.
    fn stderr_so_far(&mut self) -> String {
        let mut text = String::new();
        while let Ok(line) = self.stderr.try_recv() {
            text.push_str(&line);
            text.push('\n');
        }
        text
    }

    async fn finish(mut self) -> String {
        drop(self.stdin.take());
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success());
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.stderr_so_far()
    }
}

fn initialize() -> Value {
    json!({ "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "stdio-client", "version": "1" } })
}

fn credential_file(config_dir: &Path) -> PathBuf {
    let folder = config_dir.join("credentials");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .expect("the credentials folder")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one token file for one URL: {files:?}");
    files.remove(0)
}

#[tokio::test]
async fn roost_connect_signs_in_reuses_and_refreshes_tokens_and_steps_up_scope() {
    let stack = Stack::start(StackOptions::new(workspace_bin()).dev_signin()).await;
    let config = tempfile::tempdir().unwrap();

    // 1. First run: the 401 starts the sign-in; the "browser" follows the link.
    let mut shim = Shim::start(&stack.mcp_url, config.path());
    shim.send(1, "initialize", initialize()).await;
    let link = shim.sign_in_link().await;
    assert!(
        link.starts_with(&format!("{}/oauth/authorize?", stack.public_url)),
        "{link}"
    );
    assert!(link.contains("code_challenge_method=S256"), "{link}");
    assert!(
        link.contains("roost%3Aworkspace") && !link.contains("roost%3Arun"),
        "least privilege: only what the challenge names: {link}"
    );
    let page = reqwest::get(&link).await.unwrap().text().await.unwrap();
    assert!(
        page.contains("You can close this window"),
        "the loopback redirect answered the browser: {page}"
    );

    let init = shim.reply(1).await;
    assert_eq!(
        init["result"]["serverInfo"]["name"], "roost-workspace",
        "{init}"
    );
    shim.send(2, "tools/call", json!({ "name": "write_file", "arguments": { "path": "connect.txt", "content": "from roost connect\n" } }))
        .await;
    let written = shim.reply(2).await;
    assert_ne!(written["result"]["isError"], true, "{written}");
    let stderr = shim.finish().await;
    assert!(stderr.contains("signed in to 127.0.0.1"), "{stderr}");

    let file = credential_file(config.path());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let stored: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(stored["mcp_url"], stack.mcp_url.as_str());
    assert!(
        stored["credentials"]["token_response"]["refresh_token"].is_string(),
        "{stored}"
    );

    // 2. Second run: the stored token is used; no sign-in link, same workspace.
    let mut shim = Shim::start(&stack.mcp_url, config.path());
    shim.send(1, "initialize", initialize()).await;
    assert_eq!(
        shim.reply(1).await["result"]["serverInfo"]["name"],
        "roost-workspace"
    );
    shim.send(
        2,
        "tools/call",
        json!({ "name": "read_file", "arguments": { "path": "connect.txt" } }),
    )
    .await;
    let read = shim.reply(2).await;
    assert!(read.to_string().contains("from roost connect"), "{read}");
    let stderr = shim.finish().await;
    assert!(
        !stderr.contains("sign in"),
        "no sign-in the second time: {stderr}"
    );

    // 3. The access token stops working (as when the signing key rotates): refreshed silently.
    let mut stored: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let old_refresh = stored["credentials"]["token_response"]["refresh_token"].clone();
    stored["credentials"]["token_response"]["access_token"] = json!("not-a-valid-token");
    std::fs::write(&file, serde_json::to_vec(&stored).unwrap()).unwrap();
    let mut shim = Shim::start(&stack.mcp_url, config.path());
    shim.send(1, "initialize", initialize()).await;
    assert_eq!(
        shim.reply(1).await["result"]["serverInfo"]["name"],
        "roost-workspace"
    );
    let stderr = shim.finish().await;
    assert!(
        !stderr.contains("sign in"),
        "a refresh, not a sign-in: {stderr}"
    );
    let refreshed: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_ne!(
        refreshed["credentials"]["token_response"]["refresh_token"], old_refresh,
        "the refresh token rotated"
    );

    // 4. Step-up: running a command needs `roost:run`, which the first sign-in did not ask for.
    //    The workspace answers 403 insufficient_scope; roost connect signs in again for both
    //    scopes and retries the call.
    let mut shim = Shim::start(&stack.mcp_url, config.path());
    shim.send(1, "initialize", initialize()).await;
    assert_eq!(
        shim.reply(1).await["result"]["serverInfo"]["name"],
        "roost-workspace"
    );
    shim.send(
        2,
        "tools/call",
        json!({ "name": "run_command", "arguments": { "command": "echo stepped-up" } }),
    )
    .await;
    let link = shim.sign_in_link().await;
    assert!(
        link.contains("roost%3Arun") || link.contains("roost:run"),
        "the new sign-in asks for the missing scope: {link}"
    );
    let page = reqwest::get(&link).await.unwrap().text().await.unwrap();
    assert!(page.contains("You can close this window"), "{page}");
    let ran = shim.reply(2).await;
    assert!(ran.to_string().contains("stepped-up"), "{ran}");
    shim.finish().await;

    stack.stop().await;
}

#[tokio::test]
async fn a_pre_registered_client_id_skips_registration() {
    let config = "[[clients]]\n\
                  client_id = \"roost-connect\"\n\
                  client_name = \"roost connect (pre-registered)\"\n\
                  redirect_uris = [\"http://127.0.0.1/callback\"]\n\
                  application_type = \"native\"\n";
    let stack = Stack::start(
        StackOptions::new(workspace_bin())
            .dev_signin()
            .oauth_config(config),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut shim = Shim::start_with(
        &stack.mcp_url,
        dir.path(),
        &["--client-id", "roost-connect"],
    );
    shim.send(1, "initialize", initialize()).await;
    let link = shim.sign_in_link().await;
    let client_id = url::Url::parse(&link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.into_owned());
    assert_eq!(client_id.as_deref(), Some("roost-connect"), "{link}");
    // Any port on loopback matches the registered `http://127.0.0.1/callback` (RFC 8252 §7.3).
    let page = reqwest::get(&link).await.unwrap().text().await.unwrap();
    assert!(page.contains("You can close this window"), "{page}");
    let init = shim.reply(1).await;
    assert_eq!(
        init["result"]["serverInfo"]["name"], "roost-workspace",
        "{init}"
    );
    shim.finish().await;

    let stored: Value =
        serde_json::from_slice(&std::fs::read(credential_file(dir.path())).unwrap()).unwrap();
    assert_eq!(
        stored["credentials"]["client_id"], "roost-connect",
        "{stored}"
    );
    stack.stop().await;
}
