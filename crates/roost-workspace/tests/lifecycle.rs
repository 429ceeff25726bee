//! Lifecycle over real HTTP: sessions that survive a restart, draining on shutdown, exiting when
//! idle, and the operational endpoints.

mod common;

use std::time::Duration;

use common::{Harness, initialize, legacy, modern, rpc};
use reqwest::Client;
use roost_workspace::Exit;
use serde_json::json;

#[tokio::test]
async fn a_legacy_session_survives_a_restart_but_only_for_its_owner() {
    let harness = Harness::new();
    let client = Client::new();

    let first = harness.start().await;
    let session = initialize(&client, &first, &first.token()).await;
    assert_eq!(first.stop().await, Exit::Shutdown);

    // A new process on the same data dir (new port, so a token for the new audience).
    let second = harness.start().await;
    let list = json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/list" });
    let response = legacy(&client, &second, &second.token(), &session, &list)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the old session id must still work");
    let body = rpc(response).await;
    assert!(
        !body["result"]["tools"].as_array().unwrap().is_empty(),
        "{body}"
    );

    let mut other = second.claims();
    other.sub = "user-2".into();
    let response = legacy(&client, &second, &second.sign(&other), &session, &list)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        404,
        "another user must not restore the session"
    );
    second.stop().await;
}

#[tokio::test]
async fn shutdown_lets_a_running_command_finish_and_refuses_new_work() {
    let harness = Harness::new();
    let mut server = harness.start().await;
    let client = Client::new();
    let token = server.token();
    let started = harness.data_dir().join("workspace/started");

    let slow = {
        let request = modern(
            &client,
            &server,
            &token,
            1,
            "tools/call",
            json!({
                "name": "run_command",
                "arguments": { "command": "touch started && sleep 1 && echo finished" }
            }),
        );
        tokio::spawn(async move { rpc(request.send().await.unwrap()).await })
    };
    // Wait until the command is really running (the file appears), then signal shutdown.
    for _ in 0..500 {
        if started.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(started.exists(), "the command never started");
    server.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(50)).await;

    // New work is refused while draining (503), or the listener is already gone.
    let late = modern(&client, &server, &token, 2, "tools/list", json!({}))
        .send()
        .await;
    if let Ok(response) = late {
        assert_eq!(
            response.status(),
            503,
            "a request after shutdown began was served"
        );
    }

    let body = slow.await.unwrap();
    assert_eq!(body["result"]["isError"], false, "{body}");
    assert!(body.to_string().contains("finished"), "{body}");
    assert_eq!(server.exit().await, Exit::Shutdown);
}

#[tokio::test]
async fn the_server_exits_idle_even_with_a_get_stream_open() {
    let harness = Harness::new();
    let mut server = harness
        .start_with(|c| c.idle_timeout = Duration::from_millis(500))
        .await;
    let client = Client::new();
    let token = server.token();
    let session = initialize(&client, &server, &token).await;
    let stream = client
        .get(&server.url)
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", common::LEGACY)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    // An open stream is not activity: the server still stops, and closes the stream.
    assert_eq!(server.exit().await, Exit::Idle);
    let rest = tokio::time::timeout(Duration::from_secs(10), stream.text()).await;
    assert!(rest.is_ok(), "the GET stream was not closed on idle exit");
}

#[tokio::test]
async fn health_and_metrics() {
    let harness = Harness::new();
    let server = harness.start().await;
    let client = Client::new();

    let health = client
        .get(format!("{}/health", server.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["checks"]["data_dir"], "ok");
    assert_eq!(body["checks"]["database"], "ok");

    let token = server.token();
    let call = json!({ "name": "remember", "arguments": { "text": "the sky is blue" } });
    let body = rpc(modern(&client, &server, &token, 1, "tools/call", call)
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(body["result"]["isError"], false, "{body}");

    let metrics = client
        .get(format!("{}/metrics", server.base()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"roost_workspace_tool_calls_total{tool="remember",outcome="ok"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("roost_workspace_tool_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains(r#"method="tools/call""#), "{metrics}");
    server.stop().await;
}

#[tokio::test]
async fn health_reports_a_data_dir_that_went_away() {
    let harness = Harness::new();
    let server = harness.start().await;
    // A volume that vanished under the server (directory permissions would not stop root).
    std::fs::remove_dir_all(harness.data_dir()).unwrap();
    let response = Client::new()
        .get(format!("{}/health", server.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert!(
        body["checks"]["data_dir"]
            .as_str()
            .unwrap()
            .contains("not writable"),
        "{body}"
    );
    server.stop().await;
}
