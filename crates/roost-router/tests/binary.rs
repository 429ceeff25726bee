//! The `roost-router` binary as an operator runs it: configured by env, serving, stopping
//! cleanly on SIGTERM (Fly's kill signal).

use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test]
async fn the_binary_serves_from_env_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_roost-router"))
        .env_clear()
        .env("ROOST_PUBLIC_URL", &base)
        .env(
            "ROOST_SIGNING_KEY",
            roost_token::SigningKey::generate().to_pkcs8_pem(),
        )
        .env("FLY_API_TOKEN", "test")
        .env("ROOST_HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("ROOST_DATA_DIR", dir.path())
        .env(
            "ROOST_USER_TEMPLATE",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../fly.user.toml"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let client = reqwest::Client::new();
    let mut healthy = false;
    for _ in 0..100 {
        if let Ok(response) = client.get(format!("{base}/health")).send().await {
            healthy = response.status() == reqwest::StatusCode::OK;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "the router answers /health");
    let challenge = client.post(format!("{base}/mcp")).send().await.unwrap();
    assert_eq!(challenge.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert!(
        dir.path().join("roost.db").exists(),
        "the default SQLite database is in the data dir"
    );

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut status = None;
    for _ in 0..100 {
        if let Some(exit) = child.try_wait().unwrap() {
            status = Some(exit);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = status.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("the router did not stop on SIGTERM")
    });
    assert!(status.success(), "{status}");
}

#[test]
fn a_missing_setting_is_named_in_the_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_roost-router"))
        .env_clear()
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ROOST_PUBLIC_URL"), "{stderr}");
}
