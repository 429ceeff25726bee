//! Machines are real processes: they answer on their mapped port, stop on the configured
//! signal, follow the restart policy, keep their volume folder, and die with flylocal.

#[path = "support/harness.rs"]
mod harness;

use harness::{Harness, echo_config, eventually, process_alive};
use reqwest::{Method, StatusCode};
use roost_flylocal::{Faults, MachineState, StartFailure};
use serde_json::{Value, json};

fn pid_of(h: &Harness, id: &str) -> Option<u32> {
    h.fly
        .machines()
        .into_iter()
        .find(|m| m.id == id)
        .and_then(|m| m.pid)
}

#[tokio::test]
async fn create_start_answer_stop_and_the_process_is_gone() {
    let h = Harness::start().await;
    h.create_app("life").await;
    let mut config = echo_config(true);
    config["env"] = json!({"GREETING": "hello"});
    let id = h.create_machine("life", config).await;
    h.wait_state("life", &id, "started").await;

    let addr = h
        .resolve(&format!("{id}.vm.life.internal"), 8080)
        .await
        .expect("started machine resolves");
    assert_eq!(
        h.resolve("life.internal", 8080).await.as_deref(),
        Some(addr.as_str())
    );
    let mut echo: Option<Value> = None;
    eventually(
        "the machine's process answers on its mapped port",
        async || {
            let Ok(response) = h.client.get(format!("http://{addr}/hello")).send().await else {
                return false;
            };
            echo = response.json().await.ok();
            echo.is_some()
        },
    )
    .await;
    let echo = echo.expect("echo");
    assert_eq!(echo["path"], "/hello");
    let env = &echo["env"];
    assert_eq!(env["GREETING"], "hello");
    assert_eq!(env["FLY_APP_NAME"], "life");
    assert_eq!(env["FLY_MACHINE_ID"], id.as_str());
    assert_eq!(env["FLY_ALLOC_ID"], id.as_str());
    assert_eq!(env["FLY_REGION"], "lcl");
    assert_eq!(env["FLY_IMAGE_REF"], harness::ECHO_IMAGE);
    assert!(
        env["FLY_PRIVATE_IP"]
            .as_str()
            .unwrap_or_default()
            .starts_with("fdaa:")
    );
    assert_eq!(
        Some(env["PORT"].as_str().unwrap_or_default()),
        addr.rsplit(':').next()
    );

    let pid = pid_of(&h, &id).expect("running machine has a pid");
    assert!(process_alive(pid));
    let stop = h
        .post(&format!("/v1/apps/life/machines/{id}/stop"), json!({}))
        .await;
    assert_eq!(stop.status, StatusCode::OK);
    h.wait_state("life", &id, "stopped").await;
    eventually("the stopped machine's process is gone", async || {
        !process_alive(pid)
    })
    .await;
    assert_eq!(
        h.resolve(&format!("{id}.vm.life.internal"), 8080).await,
        None
    );

    let events = h.machine("life", &id).await["events"].clone();
    let exit = events
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["type"] == "exit")
        .expect("exit event");
    assert_eq!(
        exit["request"]["exit_event"]["exit_code"], 0,
        "echo exits 0 on SIGINT"
    );

    // Start again: a new process.
    let start = h
        .post(&format!("/v1/apps/life/machines/{id}/start"), json!({}))
        .await;
    assert_eq!(start.body["previous_state"], "stopped");
    h.wait_state("life", &id, "started").await;
    assert_ne!(pid_of(&h, &id), Some(pid));
}

#[tokio::test]
async fn exit_zero_with_on_failure_stops_and_nonzero_restarts_up_to_max_retries() {
    let h = Harness::start().await;
    h.create_app("policy").await;

    let mut clean = echo_config(true);
    clean["env"] = json!({"ECHO_EXIT_AT_START": "0"});
    let clean_id = h.create_machine("policy", clean).await;
    h.wait_state("policy", &clean_id, "stopped").await;

    let mut crashing = echo_config(true);
    crashing["env"] = json!({"ECHO_EXIT_AT_START": "3"});
    crashing["restart"] = json!({"policy": "on-failure", "max_retries": 2});
    let crash_id = h.create_machine("policy", crashing).await;
    h.wait_state("policy", &crash_id, "stopped").await;
    let events = h.machine("policy", &crash_id).await["events"].clone();
    let exits: Vec<&Value> = events
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "exit")
        .collect();
    assert_eq!(exits.len(), 3, "first run + 2 restarts: {events:#}");
    assert!(
        exits
            .iter()
            .all(|e| e["request"]["exit_event"]["exit_code"] == 3)
    );

    // policy "no": stopped after the first non-zero exit.
    let mut never = echo_config(true);
    never["env"] = json!({"ECHO_EXIT_AT_START": "1"});
    never["restart"] = json!({"policy": "no"});
    let never_id = h.create_machine("policy", never).await;
    h.wait_state("policy", &never_id, "stopped").await;
    let events = h.machine("policy", &never_id).await["events"].clone();
    assert_eq!(
        events
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["type"] == "exit")
            .count(),
        1
    );
}

#[tokio::test]
async fn always_restarts_even_after_a_clean_exit() {
    let h = Harness::start().await;
    h.create_app("always").await;
    let mut config = echo_config(true);
    config["restart"] = json!({"policy": "always"});
    let id = h.create_machine("always", config).await;
    h.wait_state("always", &id, "started").await;
    let mut addr = None;
    eventually("the machine resolves", async || {
        addr = h.resolve(&format!("{id}.vm.always.internal"), 8080).await;
        addr.is_some()
    })
    .await;
    let first_pid = pid_of(&h, &id).expect("pid");
    let exit_url = format!("http://{}/exit?code=0", addr.expect("addr"));
    eventually("the process accepts the exit request", async || {
        h.client
            .post(&exit_url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    eventually("the machine runs a new process", async || {
        pid_of(&h, &id).is_some_and(|pid| pid != first_pid)
    })
    .await;
}

#[tokio::test]
async fn injected_start_failures() {
    let h = Harness::start().await;
    h.create_app("broken").await;
    let mut faults = Faults::default();
    faults.start_failures.insert(
        "registry.fly.io/echo:broken".into(),
        StartFailure::LaunchFailed,
    );
    faults.start_failures.insert(
        "registry.fly.io/echo:crash".into(),
        StartFailure::Exit { code: 7 },
    );
    h.fly.set_faults(faults);

    let mut config = echo_config(true);
    config["image"] = json!("registry.fly.io/echo:broken");
    let id = h.create_machine("broken", config.clone()).await;
    h.wait_state("broken", &id, "failed").await;

    config["image"] = json!("registry.fly.io/echo:crash");
    config["restart"] = json!({"policy": "on-failure", "max_retries": 1});
    let id = h.create_machine("broken", config).await;
    h.wait_state("broken", &id, "stopped").await;
    let events = h.machine("broken", &id).await["events"].clone();
    let codes: Vec<&Value> = events
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "exit")
        .map(|e| &e["request"]["exit_event"]["exit_code"])
        .collect();
    assert_eq!(codes, [&json!(7), &json!(7)]);
}

#[tokio::test]
async fn volume_folder_survives_stop_and_is_deleted_with_the_volume() {
    let h = Harness::start().await;
    h.create_app("data").await;
    let volume = h
        .post("/v1/apps/data/volumes", json!({"name": "data"}))
        .await
        .body;
    let volume_id = volume["id"].as_str().expect("id").to_owned();
    let mut config = echo_config(true);
    config["mounts"] = json!([{"volume": volume_id, "path": "/data"}]);
    config["env"] =
        json!({"ROOST_DATA_DIR": "/data", "DB": "/data/db.sqlite", "OTHER": "/database"});
    let id = h.create_machine("data", config).await;
    h.wait_state("data", &id, "started").await;
    assert_eq!(
        h.get(&format!("/v1/apps/data/volumes/{volume_id}"))
            .await
            .body["attached_machine_id"],
        id.as_str()
    );

    let addr = h
        .resolve(&format!("{id}.vm.data.internal"), 8080)
        .await
        .expect("resolves");
    let mut env = Value::Null;
    eventually("the machine answers", async || {
        let Ok(response) = h.client.get(format!("http://{addr}/")).send().await else {
            return false;
        };
        env = response
            .json::<Value>()
            .await
            .map(|v| v["env"].clone())
            .unwrap_or_default();
        env.is_object()
    })
    .await;
    let folder = env["FLYLOCAL_MOUNT_DATA"]
        .as_str()
        .expect("mount env")
        .to_owned();
    assert_eq!(
        env["ROOST_DATA_DIR"],
        folder.as_str(),
        "a value equal to the mount path is rewritten"
    );
    assert_eq!(
        env["DB"],
        format!("{folder}/db.sqlite"),
        "paths under the mount are rewritten"
    );
    assert_eq!(
        env["OTHER"], "/database",
        "a mere prefix match is left alone"
    );

    let file = format!("{folder}/note.txt");
    let put = h
        .client
        .put(format!("http://{addr}/file?path={file}"))
        .body("kept")
        .send()
        .await
        .expect("write");
    assert_eq!(put.status(), StatusCode::NO_CONTENT);

    h.post(&format!("/v1/apps/data/machines/{id}/stop"), json!({}))
        .await;
    h.wait_state("data", &id, "stopped").await;
    assert_eq!(
        std::fs::read_to_string(&file).expect("file survives the stop"),
        "kept"
    );

    // Attached to a live (stopped, not destroyed) machine: refused.
    let refused = h
        .call(
            Method::DELETE,
            &format!("/v1/apps/data/volumes/{volume_id}"),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED);
    h.call(
        Method::DELETE,
        &format!("/v1/apps/data/machines/{id}"),
        None,
    )
    .await;
    h.wait_state("data", &id, "destroyed").await;
    let deleted = h
        .call(
            Method::DELETE,
            &format!("/v1/apps/data/volumes/{volume_id}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert!(
        !std::path::Path::new(&folder).exists(),
        "the folder goes with the volume"
    );
}

#[tokio::test]
async fn every_machine_process_is_gone_after_shutdown() {
    let h = Harness::start().await;
    h.create_app("many").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(h.create_machine("many", echo_config(true)).await);
    }
    for id in &ids {
        h.wait_state("many", id, "started").await;
    }
    let pids: Vec<u32> = h.fly.machines().iter().filter_map(|m| m.pid).collect();
    assert_eq!(pids.len(), 3);
    assert!(
        h.fly
            .machines()
            .iter()
            .all(|m| m.state == MachineState::Started)
    );
    let Harness { fly, .. } = h;
    fly.shutdown().await.expect("clean shutdown");
    for pid in pids {
        assert!(!process_alive(pid), "process {pid} outlived flylocal");
    }
}

fn machine_log(h: &Harness, id: &str) -> String {
    std::fs::read_to_string(h.dir.path().join("logs").join(format!("{id}.log"))).unwrap_or_default()
}

#[tokio::test]
async fn stop_sends_the_configured_signal_and_kills_after_the_timeout() {
    let h = Harness::start().await;
    h.create_app("signals").await;
    let mut polite = echo_config(true);
    polite["stop_config"] = json!({"signal": "SIGTERM", "timeout": "5s"});
    let polite_id = h.create_machine("signals", polite).await;
    let mut stubborn = echo_config(true);
    stubborn["env"] = json!({"ECHO_IGNORE_SIGNALS": "1"});
    let stubborn_id = h.create_machine("signals", stubborn).await;
    for id in [&polite_id, &stubborn_id] {
        h.wait_state("signals", id, "started").await;
        eventually("the echo process listens", async || {
            machine_log(&h, id).contains("listening")
        })
        .await;
    }

    h.post(
        &format!("/v1/apps/signals/machines/{polite_id}/stop"),
        json!({}),
    )
    .await;
    h.wait_state("signals", &polite_id, "stopped").await;
    assert!(
        machine_log(&h, &polite_id).contains("SIGTERM, exiting"),
        "stop_config.signal is used"
    );

    let pid = pid_of(&h, &stubborn_id).expect("pid");
    let started = std::time::Instant::now();
    let bad = h
        .post(
            &format!("/v1/apps/signals/machines/{stubborn_id}/stop"),
            json!({"signal": "SIGNOPE"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    h.post(
        &format!("/v1/apps/signals/machines/{stubborn_id}/stop"),
        json!({"timeout": "1s"}),
    )
    .await;
    h.wait_state("signals", &stubborn_id, "stopped").await;
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "the timeout is waited out first"
    );
    assert!(
        machine_log(&h, &stubborn_id).contains("SIGINT, ignored"),
        "the default signal is SIGINT"
    );
    eventually("the stubborn process is killed", async || {
        !process_alive(pid)
    })
    .await;
}

#[tokio::test]
async fn suspend_restart_and_app_delete() {
    let h = Harness::start().await;
    h.create_app("cycle").await;
    let volume = h
        .post("/v1/apps/cycle/volumes", json!({"name": "data"}))
        .await
        .body;
    let folder = h
        .dir
        .path()
        .join("volumes")
        .join(volume["id"].as_str().expect("id"));
    let mut config = echo_config(true);
    config["mounts"] = json!([{"volume": volume["id"], "path": "/data"}]);
    let id = h.create_machine("cycle", config).await;
    h.wait_state("cycle", &id, "started").await;

    assert_eq!(
        h.post(&format!("/v1/apps/cycle/machines/{id}/suspend"), json!({}))
            .await
            .status,
        StatusCode::OK
    );
    h.wait_state("cycle", &id, "suspended").await;
    assert_eq!(pid_of(&h, &id), None);
    h.post(&format!("/v1/apps/cycle/machines/{id}/start"), json!({}))
        .await;
    h.wait_state("cycle", &id, "started").await;

    let before = pid_of(&h, &id).expect("pid");
    let restart = h
        .post(&format!("/v1/apps/cycle/machines/{id}/restart"), json!({}))
        .await;
    assert_eq!(restart.status, StatusCode::OK);
    eventually("restart runs a new process", async || {
        pid_of(&h, &id).is_some_and(|pid| pid != before)
    })
    .await;

    let pid = pid_of(&h, &id).expect("pid");
    assert!(folder.exists());
    assert_eq!(
        h.call(Method::DELETE, "/v1/apps/cycle", None).await.status,
        StatusCode::ACCEPTED
    );
    eventually("deleting the app kills its machines", async || {
        !process_alive(pid)
    })
    .await;
    assert!(!folder.exists(), "and removes its volumes");
    assert!(h.fly.apps().is_empty());
}

#[tokio::test]
async fn an_injected_timeout_holds_the_answer_but_the_action_happens() {
    let h = Harness::start().await;
    let mut faults = Faults {
        hang_ms: 300,
        ..Faults::default()
    };
    faults.endpoints.insert(
        "app_create".into(),
        roost_flylocal::EndpointFaults {
            timeout_rate: 1.0,
            ..Default::default()
        },
    );
    h.fly.set_faults(faults);
    let started = std::time::Instant::now();
    let answer = h
        .post("/v1/apps", json!({"name": "slow", "org_slug": "personal"}))
        .await;
    assert_eq!(answer.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    h.fly.set_faults(Faults::default());
    assert_eq!(h.get("/v1/apps/slow").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_stop_right_after_create_settles_in_stopped() {
    let h = Harness::start().await;
    h.create_app("race").await;
    for _ in 0..5 {
        let id = h.create_machine("race", echo_config(true)).await;
        let stop = h
            .post(&format!("/v1/apps/race/machines/{id}/stop"), json!({}))
            .await;
        assert_eq!(stop.status, StatusCode::OK);
        h.wait_state("race", &id, "stopped").await;
        assert_eq!(pid_of(&h, &id), None, "no process outlives the stop");
    }
}

#[tokio::test]
async fn echoed_machine_output_still_lands_in_the_log_file() {
    let h = Harness::start_with(|c| c.echo_machine_output = true).await;
    h.create_app("echoed").await;
    let id = h.create_machine("echoed", echo_config(true)).await;
    h.wait_state("echoed", &id, "started").await;
    eventually("the process's stderr reaches logs/<id>.log", async || {
        machine_log(&h, &id).contains("flylocal-echo: listening on 127.0.0.1:")
    })
    .await;
}

#[tokio::test]
async fn app_secrets_reach_the_machine_env_at_boot() {
    let h = Harness::start().await;
    h.create_app("secretive").await;
    h.post(
        "/v1/apps/secretive/secrets",
        json!({"values": {"API_KEY": "s3cret"}}),
    )
    .await;
    let mut config = echo_config(true);
    config["env"] = json!({"API_KEY": "from-config", "PLAIN": "p"});
    let id = h.create_machine("secretive", config).await;
    h.wait_state("secretive", &id, "started").await;
    let addr = h
        .resolve("secretive.internal", 8080)
        .await
        .expect("resolves");
    let mut env = Value::Null;
    eventually("the machine answers", async || {
        let Ok(response) = h.client.get(format!("http://{addr}/")).send().await else {
            return false;
        };
        env = response
            .json::<Value>()
            .await
            .map(|v| v["env"].clone())
            .unwrap_or_default();
        env.is_object()
    })
    .await;
    assert_eq!(env["API_KEY"], "s3cret", "a secret wins over config.env");
    assert_eq!(env["PLAIN"], "p");
    assert!(
        env.get("FLYLOCAL_API_TOKEN").is_none(),
        "flylocal's own environment is not inherited"
    );
}
