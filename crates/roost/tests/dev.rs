//! `roost dev` as a developer runs it: it prints a working MCP URL, keeps its signing key in
//! the development folder across restarts, answers `roost admin` out of the box, stops on
//! Ctrl-C or SIGTERM (machines included), and a restart, on the same ports or others, serves
//! each user's earlier files.

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `roost dev` on free ports in `dir`; returns the process and its MCP URL.
fn start(dir: &std::path::Path) -> (Child, String) {
    // Tenants are not started by the tests that use this; any executable will do.
    let (child, mcp_url, _) = start_with(dir, std::path::Path::new("/bin/cat"), (0, 0));
    (child, mcp_url)
}

/// Starts `roost dev` in `dir` on `(edge, api)` ports (0: any free one) with tenants running
/// `workspace_bin`; returns the process, its MCP URL and the printed development token.
fn start_with(
    dir: &std::path::Path,
    workspace_bin: &std::path::Path,
    (port, api_port): (u16, u16),
) -> (Child, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_roost"))
        .arg("dev")
        .args([
            "--port",
            &port.to_string(),
            "--api-port",
            &api_port.to_string(),
        ])
        .arg("--dir")
        .arg(dir)
        .arg("--workspace-bin")
        .arg(workspace_bin)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let mcp_url = lines
        .find_map(|line| {
            line.trim()
                .strip_prefix("MCP URL:")
                .map(|url| url.trim().to_owned())
        })
        .expect("roost dev prints the MCP URL");
    let token = lines
        .find_map(|line| {
            line.trim()
                .strip_prefix("Authorization: Bearer ")
                .map(|token| token.trim().to_owned())
        })
        .expect("roost dev prints a development token");
    // Keep reading, so the rest of the banner is not written to a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, mcp_url, token)
}

fn interrupt_and_wait(child: Child) -> std::process::ExitStatus {
    signal_and_wait(child, "-INT")
}

fn signal_and_wait(mut child: Child, signal: &str) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success()
    );
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("roost dev did not stop on kill {signal}");
}

#[tokio::test]
async fn roost_dev_serves_the_printed_mcp_url_keeps_its_key_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let (child, mcp_url) = start(dir.path());
    assert!(
        mcp_url.starts_with("http://127.0.0.1:") && mcp_url.ends_with("/mcp"),
        "{mcp_url}"
    );

    // The URL answers like production: the OAuth challenge, and its metadata.
    let client = reqwest::Client::new();
    let challenge = client.post(&mcp_url).send().await.unwrap();
    assert_eq!(challenge.status(), reqwest::StatusCode::UNAUTHORIZED);
    let header = challenge.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(header.contains("resource_metadata="), "{header}");
    let base = mcp_url.trim_end_matches("/mcp");
    let jwks: serde_json::Value = client
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();

    let key_file = dir.path().join("signing-key.pem");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the signing key is private");

    // `roost admin` works against it with nothing set: the token is in the development folder.
    let admin_file = dir.path().join("admin-token");
    let mode = std::fs::metadata(&admin_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the admin token is private");
    let admin = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args(["admin", "tenants", "list", "--json", "--router", base])
        .env("ROOST_DEV_DIR", dir.path())
        .env_remove("ROOST_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(
        admin.status.success(),
        "{}",
        String::from_utf8_lossy(&admin.stderr)
    );
    let tenants: serde_json::Value = serde_json::from_slice(&admin.stdout).unwrap();
    // The development user's tenant, made at start-up.
    assert_eq!(tenants.as_array().unwrap().len(), 1, "{tenants}");
    assert!(
        tenants[0]["id"].as_str().unwrap().starts_with("roost-u-"),
        "{tenants}"
    );
    let status = interrupt_and_wait(child);
    assert!(status.success(), "{status}");

    // A restart keeps the key (tokens stay valid) and the database.
    let (child, mcp_url) = start(dir.path());
    let base = mcp_url.trim_end_matches("/mcp");
    let jwks: serde_json::Value = client
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], kid);
    assert!(dir.path().join("router/roost.db").exists());
    assert!(interrupt_and_wait(child).success());
}

/// Stops a `roost dev` (SIGTERM: machines included) when a failed assertion unwinds past it.
struct StopOnPanic(u32);

impl Drop for StopOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.0.to_string()])
                .status();
        }
    }
}

/// The tenant image: the `roost-workspace` binary next to `roost` (cargo's profile folder),
/// built when this package was tested on its own.
fn workspace_bin() -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_roost")).with_file_name("roost-workspace");
    if !path.is_file() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-p", "roost-workspace", "--bin", "roost-workspace"])
            .status()
            .expect("running cargo");
        assert!(status.success(), "building roost-workspace");
    }
    path
}

/// The file the first run wrote is there, read through `mcp_url` with a token for it.
async fn assert_kept_file_reads_back(client: &reqwest::Client, mcp_url: &str, token: &str) {
    let (error, text) = call_tool(
        client,
        mcp_url,
        token,
        "read_file",
        serde_json::json!({"path": "notes/kept.txt"}),
    )
    .await;
    assert!(!error, "{text}");
    assert!(text.contains("written before the restart"), "{text}");
}

/// Calls `tool` through the MCP URL (the stateless 2026-07-28 flow); returns (is_error, text).
async fn call_tool(
    client: &reqwest::Client,
    mcp_url: &str,
    token: &str,
    tool: &str,
    arguments: serde_json::Value,
) -> (bool, String) {
    const VERSION: &str = "2026-07-28";
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {
            "name": tool,
            "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": VERSION,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": { "name": "roost-dev-test", "version": "1" },
            },
        },
    });
    let response = client
        .post(mcp_url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", VERSION)
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{tool}: {status} {text}");
    let reply: serde_json::Value = serde_json::from_str(&text)
        .ok()
        .or_else(|| {
            text.lines()
                .rev()
                .filter_map(|l| l.strip_prefix("data:"))
                .find_map(|d| serde_json::from_str(d.trim()).ok())
        })
        .unwrap_or_else(|| panic!("{tool}: no JSON-RPC reply in {text}"));
    let result = &reply["result"];
    assert!(result.is_object(), "{tool}: {reply}");
    (
        result["isError"] == true,
        result["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// Live processes (not zombies) whose environment mentions `dir`: the workspace machines of a
/// `roost dev` run in `dir` (their data dir is a volume folder under it).
fn machine_processes_of(dir: &std::path::Path) -> Vec<u32> {
    let needle = dir.to_str().unwrap().as_bytes();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let is_machine = environ
            .split(|b| *b == 0)
            .any(|var| var.starts_with(b"FLY_MACHINE_ID="))
            && environ.windows(needle.len()).any(|w| w == needle);
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .map(|stat| {
                stat.rsplit(')')
                    .next()
                    .unwrap_or_default()
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true);
        if is_machine && !zombie {
            pids.push(pid);
        }
    }
    pids
}

#[tokio::test]
async fn sigterm_stops_the_machines_and_a_restart_serves_the_users_files() {
    let dir = tempfile::tempdir().unwrap();
    let dir_path = std::fs::canonicalize(dir.path()).unwrap();
    let workspace = workspace_bin();
    // No pooled connections: the second run listens on the same ports as the first.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();

    // The same ports for both runs, as a developer's `roost dev` has (8080 and 4280): the
    // public URL is the token issuer and audience the tenant's machine was configured with.
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let ports = (free_port(), free_port());

    // First run: the development user writes a file; their workspace machine runs.
    let (child, mcp_url, token) = start_with(&dir_path, &workspace, ports);
    let guard = StopOnPanic(child.id());
    let (error, text) = call_tool(
        &client,
        &mcp_url,
        &token,
        "write_file",
        serde_json::json!({"path": "notes/kept.txt", "content": "written before the restart\n"}),
    )
    .await;
    assert!(!error, "{text}");
    let machines = machine_processes_of(&dir_path);
    assert!(!machines.is_empty(), "the user's workspace machine runs");

    // SIGTERM (what `kill`, systemd and process managers send) stops it like Ctrl-C does,
    // machines included: none is left running as an orphan.
    let status = signal_and_wait(child, "-TERM");
    drop(guard);
    assert!(status.success(), "{status}");
    let until = Instant::now() + Duration::from_secs(5);
    while !machine_processes_of(&dir_path).is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        machine_processes_of(&dir_path),
        Vec::<u32>::new(),
        "workspace processes {machines:?} outlived roost dev"
    );

    // Second run on the same folder, with a freshly printed token: the same user's file is
    // there (the platform kept the app, machine and volume; the edge wakes the machine).
    let (child, second_url, token) = start_with(&dir_path, &workspace, ports);
    let _guard = StopOnPanic(child.id());
    assert_eq!(second_url, mcp_url);
    assert_kept_file_reads_back(&client, &mcp_url, &token).await;
    assert!(interrupt_and_wait(child).success());
    assert!(machine_processes_of(&dir_path).is_empty());

    // Third run on other ports: a new MCP URL, so a new issuer and audience. The user's
    // machine is reconfigured for it before the URL is printed, and their file is there.
    let (child, third_url, token) = start_with(&dir_path, &workspace, (free_port(), free_port()));
    let _guard = StopOnPanic(child.id());
    assert_ne!(third_url, mcp_url);
    assert_kept_file_reads_back(&client, &third_url, &token).await;
    assert!(interrupt_and_wait(child).success());
}
