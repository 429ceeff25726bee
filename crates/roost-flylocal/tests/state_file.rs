//! With a state file, flylocal keeps its platform across restarts as Fly does: apps (and their
//! secrets), volumes (and the files in their folders) and machines (stopped: processes do not
//! survive) are there after a restart, and the edge autostarts the machine on the next request.

#[path = "support/harness.rs"]
mod harness;

use std::path::Path;

use harness::{Harness, echo_config, process_alive};
use reqwest::{Method, StatusCode};
use roost_flylocal::MachineState;
use serde_json::{Value, json};

/// A flylocal on `data_dir` that saves its state in `data_dir/state.json`.
async fn start_on(data_dir: &Path) -> Harness {
    let data_dir = data_dir.to_owned();
    Harness::start_with(move |config| {
        config.state_file = Some(data_dir.join("state.json"));
        config.data_dir = data_dir;
    })
    .await
}

#[tokio::test]
async fn a_restarted_flylocal_keeps_apps_volumes_and_machines_and_autostarts_them() {
    let data = tempfile::tempdir().expect("temp dir");

    // First life: an app with a secret, a volume with a file in it, a running machine.
    let h = start_on(data.path()).await;
    h.create_app("keep").await;
    let secrets = h
        .post(
            "/v1/apps/keep/secrets",
            json!({"values": {"GREETING": "hello"}}),
        )
        .await;
    assert!(secrets.status.is_success(), "{:?}", secrets.body);
    let volume = h
        .post("/v1/apps/keep/volumes", json!({"name": "data"}))
        .await
        .body;
    let volume_id = volume["id"].as_str().expect("volume id").to_owned();
    let folder = data.path().join("volumes").join(&volume_id);
    std::fs::write(folder.join("note.txt"), "kept across restarts\n").expect("write into volume");
    let mut config = echo_config(true);
    config["mounts"] = json!([{"volume": volume_id, "path": "/data"}]);
    let id = h.create_machine("keep", config.clone()).await;
    h.wait_state("keep", &id, "started").await;
    let before = h.machine("keep", &id).await;
    let old_pid = h
        .fly
        .machines()
        .into_iter()
        .find(|m| m.id == id)
        .and_then(|m| m.pid)
        .expect("a running machine has a pid");
    h.fly.shutdown().await.expect("shutdown");
    assert!(
        !process_alive(old_pid),
        "shutdown kills the machine process"
    );
    assert!(data.path().join("state.json").is_file());

    // Second life on the same data dir.
    let h = start_on(data.path()).await;
    assert_eq!(h.fly.apps(), ["keep"]);
    let app = h.get("/v1/apps/keep").await;
    assert_eq!(app.status, StatusCode::OK, "{:?}", app.body);
    let secret_names: Vec<Value> = h.get("/v1/apps/keep/secrets").await.body["secrets"]
        .as_array()
        .map(|list| list.iter().map(|s| s["name"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(secret_names, [json!("GREETING")]);

    let volume = h.get(&format!("/v1/apps/keep/volumes/{volume_id}")).await;
    assert_eq!(volume.status, StatusCode::OK, "{:?}", volume.body);
    assert_eq!(volume.body["name"], "data");
    assert_eq!(volume.body["attached_machine_id"], id.as_str());

    let machine = h.machine("keep", &id).await;
    assert_eq!(machine["state"], "stopped", "{machine}");
    assert_eq!(machine["instance_id"], before["instance_id"]);
    assert_eq!(machine["private_ip"], before["private_ip"]);
    assert_eq!(machine["config"], before["config"]);
    let info = h.fly.machines();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].state, MachineState::Stopped);
    assert_eq!(info[0].pid, None);

    // The edge wakes it, and the file written before the restart is in its volume.
    let response = h
        .edge(Method::GET, "keep", "/file")
        .query(&[("path", folder.join("note.txt"))])
        .send()
        .await
        .expect("edge reachable");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.expect("body"),
        "kept across restarts\n"
    );
    let echoed: Value = h
        .edge(Method::GET, "keep", "/")
        .send()
        .await
        .expect("edge reachable")
        .json()
        .await
        .expect("json");
    assert_eq!(echoed["env"]["GREETING"], "hello", "secrets come back too");
    assert_eq!(
        echoed["env"]["FLYLOCAL_MOUNT_DATA"],
        folder.to_str().expect("utf-8 path")
    );
    let machine = h.machine("keep", &id).await;
    assert_eq!(machine["state"], "started", "{machine}");

    // New ids do not collide with the loaded ones, and the state keeps following changes.
    let second = h.create_machine("keep", echo_config(false)).await;
    assert_ne!(second, id);
    assert_ne!(
        h.machine("keep", &second).await["private_ip"],
        before["private_ip"]
    );
    h.fly.shutdown().await.expect("shutdown");
    let h = start_on(data.path()).await;
    assert_eq!(h.fly.machines().len(), 2);
    h.fly.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn without_a_state_file_every_start_is_an_empty_platform() {
    let data = tempfile::tempdir().expect("temp dir");
    let start = || {
        let dir = data.path().to_owned();
        Harness::start_with(move |config| config.data_dir = dir)
    };
    let h = start().await;
    h.create_app("gone").await;
    h.fly.shutdown().await.expect("shutdown");
    let h = start().await;
    assert!(h.fly.apps().is_empty());
    assert!(!data.path().join("state.json").exists());
    h.fly.shutdown().await.expect("shutdown");
}
