//! Both protocol eras on one endpoint, over real HTTP: the 2025-11-25 session flow and the
//! 2026-07-28 stateless flow, `resources/list` paging, plus the transport's refusals (bad JSON,
//! big bodies, Host/Origin).

mod common;

use std::time::Duration;

use common::{Harness, LEGACY, initialize, legacy, modern, post, rpc};
use futures::StreamExt;
use reqwest::Client;
use serde_json::{Value, json};

fn call(id: u64, name: &str, arguments: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": { "name": name, "arguments": arguments } })
}

#[tokio::test]
async fn legacy_session_initialize_call_stream_and_delete() {
    let harness = Harness::new();
    let server = harness.start().await;
    let client = Client::new();
    let token = server.token();
    let session = initialize(&client, &server, &token).await;

    let write = call(
        2,
        "write_file",
        json!({ "path": "hello.txt", "content": "hi there\n" }),
    );
    let response = legacy(&client, &server, &token, &session, &write)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = rpc(response).await;
    assert_eq!(body["result"]["isError"], false, "{body}");

    let read = call(3, "read_file", json!({ "path": "hello.txt" }));
    let body = rpc(legacy(&client, &server, &token, &session, &read)
        .send()
        .await
        .unwrap())
    .await;
    assert!(
        body["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("hi there"),
        "{body}"
    );

    // The file is on disk in the workspace folder.
    let on_disk = std::fs::read_to_string(harness.data_dir().join("workspace/hello.txt")).unwrap();
    assert_eq!(on_disk, "hi there\n");

    // A tool failure reaches the model as an error result, not a protocol error.
    let missing = call(4, "read_file", json!({ "path": "nope.txt" }));
    let body = rpc(legacy(&client, &server, &token, &session, &missing)
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(body["result"]["isError"], true, "{body}");

    // GET opens the server→client stream.
    let stream = client
        .get(&server.url)
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", LEGACY)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    drop(stream);

    // DELETE ends the session; the id is then unknown.
    let response = client
        .delete(&server.url)
        .bearer_auth(&token)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", LEGACY)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let list = json!({ "jsonrpc": "2.0", "id": 5, "method": "tools/list" });
    let response = legacy(&client, &server, &token, &session, &list)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn a_session_id_is_useless_with_another_users_token() {
    let harness = Harness::new();
    let server = harness.start().await;
    let client = Client::new();
    let session = initialize(&client, &server, &server.token()).await;
    let mut mallory = server.claims();
    mallory.sub = "user-2".into();
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" });
    let response = legacy(&client, &server, &server.sign(&mallory), &session, &list)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // The owner still can.
    let response = legacy(&client, &server, &server.token(), &session, &list)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn modern_discover_and_stateless_tool_calls() {
    let harness = Harness::new();
    let server = harness.start().await;
    let client = Client::new();
    let token = server.token();

    let response = modern(&client, &server, &token, 1, "server/discover", json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().get("mcp-session-id").is_none(),
        "2026 is sessionless"
    );
    let body = rpc(response).await;
    let result = &body["result"];
    assert!(
        result["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28")),
        "{body}"
    );
    assert!(result["capabilities"]["tools"].is_object(), "{body}");
    assert!(
        result["capabilities"]["resources"]["subscribe"] == true,
        "{body}"
    );

    let write =
        json!({ "name": "write_file", "arguments": { "path": "a/b.md", "content": "# B" } });
    let body = rpc(modern(&client, &server, &token, 2, "tools/call", write)
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(body["result"]["resultType"], "complete", "{body}");
    assert_eq!(body["result"]["isError"], false, "{body}");

    let body = rpc(
        modern(&client, &server, &token, 3, "resources/list", json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["result"]["cacheScope"], "private", "{body}");
    let uris: Vec<&str> = body["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert!(uris.contains(&"workspace:///a/b.md"), "{uris:?}");

    let read = json!({ "uri": "workspace:///a/b.md" });
    let body = rpc(modern(&client, &server, &token, 4, "resources/read", read)
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(body["result"]["contents"][0]["text"], "# B", "{body}");
    assert_eq!(body["result"]["cacheScope"], "private", "{body}");

    let prompt = json!({ "name": "review_file", "arguments": { "path": "a/b.md" } });
    let body = rpc(modern(&client, &server, &token, 5, "prompts/get", prompt)
        .send()
        .await
        .unwrap())
    .await;
    let messages = body["result"]["messages"].as_array().unwrap();
    assert_eq!(messages[1]["content"]["resource"]["text"], "# B", "{body}");

    // A header that lies about the body is refused (SEP-2243).
    let response = modern(&client, &server, &token, 6, "tools/list", json!({}))
        .header("mcp-method", "prompts/list")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    server.stop().await;
}

#[tokio::test]
async fn a_2026_subscription_hears_about_changed_files() {
    let harness = Harness::new();
    let server = harness.start().await;
    let client = Client::new();
    let token = server.token();
    let filter = json!({ "notifications": {
        "resourcesListChanged": true,
        "resourceSubscriptions": ["workspace:///watched.txt"]
    }});
    let listen = modern(&client, &server, &token, 1, "subscriptions/listen", filter)
        .send()
        .await
        .unwrap();
    assert_eq!(listen.status(), 200);
    let mut events = listen.bytes_stream();
    let mut seen = String::new();
    let next_event =
        async |seen: &mut String,
               events: &mut (dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
               needle: &str| {
            while !seen.contains(needle) {
                let chunk = tokio::time::timeout(Duration::from_secs(10), events.next())
                    .await
                    .unwrap_or_else(|_| panic!("timed out waiting for {needle}; got {seen}"))
                    .expect("stream ended")
                    .unwrap();
                seen.push_str(&String::from_utf8_lossy(&chunk));
            }
        };
    next_event(
        &mut seen,
        &mut events,
        "notifications/subscriptions/acknowledged",
    )
    .await;

    let write =
        json!({ "name": "write_file", "arguments": { "path": "watched.txt", "content": "v1" } });
    let body = rpc(modern(&client, &server, &token, 2, "tools/call", write)
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(body["result"]["isError"], false, "{body}");
    next_event(&mut seen, &mut events, "notifications/resources/updated").await;
    assert!(seen.contains("workspace:///watched.txt"), "{seen}");
    next_event(
        &mut seen,
        &mut events,
        "notifications/resources/list_changed",
    )
    .await;
    drop(events);
    server.stop().await;
}

#[tokio::test]
async fn resources_list_pages_through_a_large_workspace_and_refuses_a_forged_cursor() {
    let harness = Harness::new();
    let workspace = harness.data_dir().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    // More than two pages' worth (1,000 per page).
    for n in 0..2_050 {
        std::fs::write(workspace.join(format!("f{n:05}.txt")), "x").unwrap();
    }
    let server = harness.start().await;
    let client = Client::new();
    let token = server.token();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let params = match &cursor {
            Some(cursor) => json!({ "cursor": cursor }),
            None => json!({}),
        };
        let body = rpc(modern(
            &client,
            &server,
            &token,
            10 + pages,
            "resources/list",
            params,
        )
        .send()
        .await
        .unwrap())
        .await;
        pages += 1;
        let result = &body["result"];
        seen.extend(
            result["resources"]
                .as_array()
                .unwrap_or_else(|| panic!("{body}"))
                .iter()
                .map(|r| r["uri"].as_str().unwrap().to_owned()),
        );
        match result["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 2_050, "every file once");
    assert_eq!(seen.first().unwrap(), "workspace:///f00000.txt");
    assert_eq!(seen.last().unwrap(), "workspace:///f02049.txt");
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique.len(), seen.len());

    let body = rpc(modern(
        &client,
        &server,
        &token,
        99,
        "resources/list",
        json!({ "cursor": "not a cursor!" }),
    )
    .send()
    .await
    .unwrap())
    .await;
    assert_eq!(body["error"]["code"], -32602, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cursor"),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn malformed_json_rpc_gets_a_clear_client_error() {
    let harness = Harness::new();
    let server = harness.start().await;
    let response = Client::new()
        .post(&server.url)
        .bearer_auth(server.token())
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body("{ this is not json")
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(status.is_client_error(), "{status}: {body}");
    assert!(!body.is_empty(), "the error should say what was wrong");
    server.stop().await;
}

#[tokio::test]
async fn an_oversize_body_is_413() {
    let harness = Harness::new();
    let server = harness.start_with(|c| c.max_body_bytes = 64 * 1024).await;
    let big = "x".repeat(100 * 1024);
    let body = call(
        1,
        "write_file",
        json!({ "path": "big.txt", "content": big }),
    );
    let response = post(&Client::new(), &server, Some(&server.token()), &body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(!harness.data_dir().join("workspace/big.txt").exists());
    server.stop().await;
}

#[tokio::test]
async fn foreign_host_and_origin_are_refused() {
    let harness = Harness::new();
    let server = harness.start().await;
    let client = Client::new();
    let token = server.token();
    let list = json!({});

    let response = modern(&client, &server, &token, 1, "tools/list", list.clone())
        .header("host", "evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "foreign Host (DNS rebinding)");

    let response = modern(&client, &server, &token, 2, "tools/list", list.clone())
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "foreign Origin");

    let response = modern(&client, &server, &token, 3, "tools/list", list)
        .header("origin", server.base())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "own origin");
    server.stop().await;
}
