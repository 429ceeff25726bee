//! The `roost-flylocal` binary: flags become config, it serves, and on SIGTERM it takes its
//! machine processes down with it.

#[path = "support/harness.rs"]
mod harness;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use harness::{echo_config, eventually, process_alive};
use serde_json::{Value, json};

#[tokio::test]
async fn the_binary_serves_and_sigterm_stops_its_machines() {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_roost-flylocal"))
        .args([
            "--api-addr",
            "127.0.0.1:0",
            "--edge-addr",
            "127.0.0.1:0",
            "--no-rate-limits",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--image")
        .arg(format!(
            "registry.fly.io/echo*={}",
            env!("CARGO_BIN_EXE_flylocal-echo")
        ))
        .env("FLYLOCAL_API_TOKEN", "local-token")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut banner = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut banner)
        .expect("banner");
    let api = banner
        .split("Machines API on ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .expect("api url")
        .to_owned();

    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Value| {
        client
            .request(method, format!("{api}{path}"))
            .header("authorization", "FlyV1 local-token")
            .json(&body)
            .send()
    };
    let created = call(
        reqwest::Method::POST,
        "/v1/apps",
        json!({"name": "bin", "org_slug": "personal"}),
    )
    .await
    .expect("api");
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    let machine: Value = call(
        reqwest::Method::POST,
        "/v1/apps/bin/machines",
        json!({"config": echo_config(true)}),
    )
    .await
    .expect("api")
    .json()
    .await
    .expect("json");
    let id = machine["id"].as_str().expect("id").to_owned();
    let log = dir.path().join("logs").join(format!("{id}.log"));
    eventually("the machine's process listens", async || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("listening")
    })
    .await;
    let pid = pid_from_proc(&id).expect("machine process found");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid")),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("signal");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(
        status.success(),
        "flylocal exits cleanly on SIGTERM: {status}"
    );
    eventually("the machine process died with flylocal", async || {
        !process_alive(pid)
    })
    .await;
}

/// The pid of the process whose environment carries FLY_MACHINE_ID=<id>.
fn pid_from_proc(id: &str) -> Option<u32> {
    let needle = format!("FLY_MACHINE_ID={id}");
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            environ
                .split(|b| *b == 0)
                .any(|var| var == needle.as_bytes())
                .then_some(pid)
        })
}
