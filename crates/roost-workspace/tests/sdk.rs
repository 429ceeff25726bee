//! End-to-end with the official TypeScript SDK clients: list tools and call them through
//! Streamable HTTP with a bearer token from a test signer — `@modelcontextprotocol/sdk` 1.x
//! (2025-11-25, sessions) and `@modelcontextprotocol/client` 2.x (2026-07-28, stateless).

mod common;

use common::Harness;
use roost_e2e::node::run_script;

async fn list_and_call(sdk: &str) -> serde_json::Value {
    let harness = Harness::new();
    let server = harness.start().await;
    let token = server.token();
    let out = run_script(
        "workspace/list-and-call.mjs",
        &[
            ("MCP_URL", &server.url),
            ("MCP_TOKEN", &token),
            ("MCP_SDK", sdk),
        ],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let tools: Vec<&str> = out["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for expected in [
        "read_file",
        "write_file",
        "run_command",
        "remember",
        "recall",
    ] {
        assert!(
            tools.contains(&expected),
            "{sdk}: {expected} missing: {out}"
        );
    }
    assert_eq!(out["writeIsError"], false, "{out}");
    assert_eq!(out["readIsError"], false, "{out}");
    assert!(
        out["readText"]
            .as_str()
            .unwrap()
            .contains(&format!("hello from {sdk}")),
        "{out}"
    );
    let on_disk =
        std::fs::read_to_string(harness.data_dir().join(format!("workspace/e2e-{sdk}.txt")));
    assert_eq!(on_disk.unwrap(), format!("hello from {sdk}\n"));
    server.stop().await;
    out
}

#[tokio::test]
async fn the_v1_sdk_client_uses_a_2025_11_25_session() {
    let out = list_and_call("v1").await;
    assert_eq!(out["protocolVersion"], "2025-11-25", "{out}");
    assert!(
        out["sessionId"].is_string(),
        "a legacy client gets a session: {out}"
    );
    assert_eq!(out["server"]["name"], "roost-workspace", "{out}");
}

#[tokio::test]
async fn the_v2_sdk_client_speaks_2026_07_28_statelessly() {
    let out = list_and_call("v2").await;
    assert_eq!(out["protocolVersion"], "2026-07-28", "{out}");
    assert!(
        out["sessionId"].is_null(),
        "2026-07-28 has no sessions: {out}"
    );
}
