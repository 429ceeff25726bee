//! `roost dev` as a developer runs it: it prints a working MCP URL, keeps its signing key in
//! the development folder across restarts, answers `roost admin` out of the box, and stops on
//! Ctrl-C.

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `roost dev` on free ports in `dir`; returns the process and its MCP URL.
fn start(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args(["dev", "--port", "0", "--api-port", "0"])
        .arg("--dir")
        .arg(dir)
        // Tenants are not started in this test; any executable will do.
        .args(["--workspace-bin", "/bin/cat"])
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
    // Keep reading, so the rest of the banner is not written to a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, mcp_url)
}

fn interrupt_and_wait(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
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
    panic!("roost dev did not stop on Ctrl-C");
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
