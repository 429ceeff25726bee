//! The router end to end, through flylocal's edge with the official TypeScript SDK: a new
//! user's first request provisions their own workspace process, two users cannot see each
//! other's files, an idle workspace stops and wakes with its data, and a body too large for a
//! replay reaches the tenant intact through the router's proxy.

mod support;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use roost_e2e::node::run_script;
use roost_flylocal::MachineState;
use roost_token::AccessClaims;
use support::stack::{Stack, StackOptions, repo_root};

const WORKSPACE_BIN: &str = env!("CARGO_BIN_EXE_roost-e2e-workspace");

/// A workspace token for `sub`, as the OAuth server would mint it.
fn token(stack: &Stack, sub: &str) -> String {
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    stack
        .key
        .sign(&AccessClaims {
            iss: stack.public_url.clone(),
            aud: stack.mcp_url.clone(),
            sub: sub.to_owned(),
            tenant: stack.tenant_of(sub),
            scope: "roost:workspace".to_owned(),
            client_id: "e2e".to_owned(),
            iat: now,
            nbf: now,
            exp: now + 600,
            jti: format!("e2e-{sub}-{now}"),
        })
        .unwrap()
}

/// Calls `tool` with `args` as `sub` through the edge; returns (is_error, text).
async fn call(stack: &Stack, sub: &str, tool: &str, args: serde_json::Value) -> (bool, String) {
    call_with(stack, sub, tool, args, None).await
}

async fn call_with(
    stack: &Stack,
    sub: &str,
    tool: &str,
    args: serde_json::Value,
    content_bytes: Option<usize>,
) -> (bool, String) {
    let token = token(stack, sub);
    let args = args.to_string();
    let bytes = content_bytes.map(|n| n.to_string());
    let mut env = vec![
        ("MCP_URL", stack.mcp_url.as_str()),
        ("MCP_TOKEN", token.as_str()),
        ("TOOL", tool),
        ("ARGS", args.as_str()),
    ];
    if let Some(bytes) = &bytes {
        env.push(("ARGS_CONTENT_BYTES", bytes));
    }
    let result = run_script("router/call-tool.mjs", &env)
        .await
        .expect("the MCP client script runs");
    (
        result["isError"] == true,
        result["text"].as_str().unwrap_or_default().to_owned(),
    )
}

/// A tenant template like the shipped one, with a short idle timeout.
fn template_with_idle(dir: &std::path::Path, idle: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo_root().join("fly.user.toml"))
        .unwrap()
        .replace(
            "ROOST_IDLE_TIMEOUT = \"10m\"",
            &format!("ROOST_IDLE_TIMEOUT = \"{idle}\""),
        );
    let path = dir.join("fly.user.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn machines_of(stack: &Stack, app: &str) -> Vec<roost_flylocal::MachineInfo> {
    stack
        .fly
        .machines()
        .into_iter()
        .filter(|m| m.app == app)
        .collect()
}

#[tokio::test]
async fn each_user_gets_their_own_workspace_and_cannot_read_anothers_files() {
    let stack = Stack::start(StackOptions::new(WORKSPACE_BIN)).await;

    let (error, _) = call(
        &stack,
        "alice",
        "write_file",
        serde_json::json!({"path": "secret.txt", "content": "alice's secret"}),
    )
    .await;
    assert!(!error, "alice writes in her own workspace");
    let (error, text) = call(
        &stack,
        "alice",
        "read_file",
        serde_json::json!({"path": "secret.txt"}),
    )
    .await;
    assert!(!error && text.contains("alice's secret"), "{text}");

    // Bob is provisioned separately: another app, machine, volume and process.
    let (error, _) = call(
        &stack,
        "bob",
        "write_file",
        serde_json::json!({"path": "mine.txt", "content": "bob"}),
    )
    .await;
    assert!(!error);
    let (alice_app, bob_app) = (stack.tenant_of("alice"), stack.tenant_of("bob"));
    let store = stack.router.tenants.store();
    let alice = store.get(&alice_app).await.unwrap().unwrap();
    let bob = store.get(&bob_app).await.unwrap().unwrap();
    assert_ne!(alice.app_name, bob.app_name);
    assert_ne!(alice.volume_id, bob.volume_id);
    assert_ne!(alice.machine_id, bob.machine_id);
    let (alice_machine, bob_machine) = (
        &machines_of(&stack, &alice_app)[0],
        &machines_of(&stack, &bob_app)[0],
    );
    assert_ne!(alice_machine.pid, bob_machine.pid, "two processes");

    // Bob tries to reach Alice's file: by name (not in his workspace), and by walking out of
    // his workspace towards her volume.
    let (error, text) = call(
        &stack,
        "bob",
        "read_file",
        serde_json::json!({"path": "secret.txt"}),
    )
    .await;
    assert!(error, "bob must not see alice's file: {text}");
    let alice_volume = alice.volume_id.clone().unwrap();
    for path in [
        format!("../../{alice_volume}/workspace/secret.txt"),
        format!("../{alice_volume}/workspace/secret.txt"),
        stack
            .path("fly")
            .join("volumes")
            .join(&alice_volume)
            .join("workspace/secret.txt")
            .display()
            .to_string(),
    ] {
        let (error, text) = call(
            &stack,
            "bob",
            "read_file",
            serde_json::json!({"path": path}),
        )
        .await;
        assert!(error && !text.contains("alice's secret"), "{path}: {text}");
    }

    // A token for Bob's user naming Alice's tenant is refused by the router.
    let forged = {
        let now = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
        .unwrap();
        stack
            .key
            .sign(&AccessClaims {
                iss: stack.public_url.clone(),
                aud: stack.mcp_url.clone(),
                sub: "bob".into(),
                tenant: alice_app.clone(),
                scope: "roost:workspace".into(),
                client_id: "e2e".into(),
                iat: now,
                nbf: now,
                exp: now + 600,
                jti: "forged".into(),
            })
            .unwrap()
    };
    let response = reqwest::Client::new()
        .post(&stack.mcp_url)
        .bearer_auth(forged)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::FORBIDDEN);
    stack.stop().await;
}

#[tokio::test]
async fn an_idle_workspace_stops_and_the_next_request_wakes_it_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let template = template_with_idle(dir.path(), "3s");
    let stack = Stack::start(
        StackOptions::new(WORKSPACE_BIN)
            .router_arg(format!("--user-template={}", template.display())),
    )
    .await;
    let app = stack.tenant_of("alice");
    let all_stopped = || {
        machines_of(&stack, &app)
            .iter()
            .all(|m| m.state == MachineState::Stopped)
    };

    let (error, _) = call(
        &stack,
        "alice",
        "write_file",
        serde_json::json!({"path": "keep.txt", "content": "still here"}),
    )
    .await;
    assert!(!error);
    assert!(
        wait_for(Duration::from_secs(30), all_stopped).await,
        "the idle workspace exited and its machine stopped: {:?}",
        machines_of(&stack, &app)
    );

    // A body too large to replay: the router proxies it, starting the machine via the API.
    let size = 1024 * 1024 + 1;
    let (error, text) = call_with(
        &stack,
        "alice",
        "write_file",
        serde_json::json!({"path": "big.txt"}),
        Some(size),
    )
    .await;
    assert!(
        !error,
        "the proxied request woke the stopped machine: {text}"
    );
    assert!(
        wait_for(Duration::from_secs(30), all_stopped).await,
        "idle again"
    );

    // A normal request goes through the replay; the edge autostarts the machine.
    let (error, text) = call(
        &stack,
        "alice",
        "read_file",
        serde_json::json!({"path": "keep.txt"}),
    )
    .await;
    assert!(!error && text.contains("still here"), "{text}");
    let machines = machines_of(&stack, &app);
    assert_eq!(machines.len(), 1, "woken, not re-created");
    assert_eq!(machines[0].state, MachineState::Started);
    let (error, text) = call(&stack, "alice", "list_files", serde_json::json!({})).await;
    assert!(!error && text.contains("big.txt"), "{text}");
    stack.stop().await;
}

#[tokio::test]
async fn a_body_of_one_mib_and_one_byte_reaches_the_tenant_intact() {
    let stack = Stack::start(StackOptions::new(WORKSPACE_BIN)).await;
    // Provision first, so the large request finds a ready tenant.
    let (error, _) = call(
        &stack,
        "alice",
        "write_file",
        serde_json::json!({"path": "small.txt", "content": "hi"}),
    )
    .await;
    assert!(!error);

    // The JSON-RPC body around a 1 MiB + 1 byte `content` is larger than Fly's proxy replays,
    // so the router forwards it over the private network itself.
    let proxied_before = proxied(&stack).await;
    let size = 1024 * 1024 + 1;
    let (error, text) = call_with(
        &stack,
        "alice",
        "write_file",
        serde_json::json!({"path": "big.txt"}),
        Some(size),
    )
    .await;
    assert!(!error, "{text}");
    let volume = stack
        .router
        .tenants
        .store()
        .get(&stack.tenant_of("alice"))
        .await
        .unwrap()
        .unwrap()
        .volume_id
        .unwrap();
    let written = std::fs::read(
        stack
            .path("fly")
            .join("volumes")
            .join(volume)
            .join("workspace/big.txt"),
    )
    .unwrap();
    assert_eq!(written.len(), size);
    assert!(written.iter().all(|b| *b == b'x'));

    // The counter exists (as 0) from start-up, so only its growth shows the proxy path ran.
    let proxied_after = proxied(&stack).await;
    assert!(
        proxied_after > proxied_before,
        "the large body took the proxy path: {proxied_before} -> {proxied_after}"
    );
    stack.stop().await;
}

/// The router's count of proxied requests, from `/metrics`.
async fn proxied(stack: &Stack) -> f64 {
    let metrics = reqwest::get(format!("{}/metrics", stack.public_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    roost_router::metrics::sample(&metrics, r#"roost_router_requests_total{outcome="proxy"}"#)
        .unwrap_or_else(|| panic!("no proxy counter in\n{metrics}"))
}

async fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let until = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < until {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}
