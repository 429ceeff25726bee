//! The edge proxy: routing by Host, fly-replay in both forms with Fly's semantics, autostart,
//! the replay limits, proxy headers, streaming and idle timeouts.

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{Harness, echo_config};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A "router" app and a "user-a" app, one started echo machine each.
async fn stack() -> (Harness, String, String) {
    let h = Harness::start().await;
    h.create_app("router").await;
    h.create_app("user-a").await;
    let router = h.create_machine("router", echo_config(true)).await;
    let user = h.create_machine("user-a", echo_config(true)).await;
    h.wait_state("router", &router, "started").await;
    h.wait_state("user-a", &user, "started").await;
    (h, router, user)
}

async fn echo_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, StatusCode::OK, "edge answered {status}: {text}");
    serde_json::from_str(&text).expect("echo JSON")
}

fn flylocal_error(response: &reqwest::Response) -> &str {
    response
        .headers()
        .get("x-flylocal-error")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn replay_to_a_stopped_machine_autostarts_it_and_carries_state() {
    let (h, router, user) = stack().await;
    h.post(&format!("/v1/apps/user-a/machines/{user}/stop"), json!({}))
        .await;
    h.wait_state("user-a", &user, "stopped").await;

    let response = h
        .edge(Method::GET, "router", "/mcp?x=1")
        .header("x-echo-replay", "app=user-a;state=psk-123")
        .send()
        .await
        .expect("edge reachable");
    let echo = echo_of(response).await;
    assert_eq!(
        echo["machine_id"],
        user.as_str(),
        "the replay reached the user's machine"
    );
    assert_eq!(echo["path"], "/mcp?x=1");
    let headers = &echo["headers"];
    let src = headers["fly-replay-src"].as_str().expect("fly-replay-src");
    assert!(
        src.starts_with(&format!("instance={router};region=lcl;t=")),
        "{src}"
    );
    assert!(src.ends_with(";state=psk-123"), "{src}");
    assert_eq!(headers["host"], "router.fly.dev", "Host is kept");
    assert_eq!(headers["fly-client-ip"], "127.0.0.1");
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["fly-region"], "lcl");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert!(
        headers["via"]
            .as_str()
            .unwrap_or_default()
            .contains("fly.io")
    );
    assert_eq!(h.machine("user-a", &user).await["state"], "started");
}

#[tokio::test]
async fn instance_is_forced_and_prefer_instance_falls_back_with_a_header() {
    let (h, _router, first) = stack().await;
    let second = h.create_machine("user-a", echo_config(true)).await;
    h.wait_state("user-a", &second, "started").await;

    for _ in 0..3 {
        let response = h
            .edge(Method::GET, "router", "/")
            .header("x-echo-replay", format!("app=user-a;instance={second}"))
            .send()
            .await
            .expect("edge");
        assert_eq!(echo_of(response).await["machine_id"], second.as_str());
    }

    let response = h
        .edge(Method::GET, "router", "/")
        .header("x-echo-replay", "app=user-a;prefer_instance=0000dead")
        .send()
        .await
        .expect("edge");
    let echo = echo_of(response).await;
    assert!(echo["machine_id"] == first.as_str() || echo["machine_id"] == second.as_str());
    assert_eq!(
        echo["headers"]["fly-preferred-instance-unavailable"],
        "0000dead"
    );

    let forced = h
        .edge(Method::GET, "router", "/")
        .header("x-echo-replay", "app=user-a;instance=0000dead")
        .send()
        .await
        .expect("edge");
    assert_eq!(forced.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(flylocal_error(&forced), "PR02");
}

#[tokio::test]
async fn fallback_returns_to_the_replaying_machine_when_the_target_never_comes_up() {
    let (h, router, _user) = stack().await;
    h.create_app("user-b").await;
    let mut config = echo_config(true);
    config["env"] = json!({"ECHO_NEVER_LISTEN": "1"});
    let dead = h.create_machine("user-b", config).await;
    h.wait_state("user-b", &dead, "started").await;

    let response = h
        .edge(Method::POST, "router", "/mcp")
        .header(
            "x-echo-replay",
            format!("app=user-b;instance={dead};timeout=1s;fallback=force_self"),
        )
        .body("payload")
        .send()
        .await
        .expect("edge");
    let echo = echo_of(response).await;
    assert_eq!(
        echo["machine_id"],
        router.as_str(),
        "the fallback goes back to the replaying machine"
    );
    assert_eq!(echo["body_len"], 7, "the original body is sent again");
    let failed = echo["headers"]["fly-replay-failed"]
        .as_str()
        .expect("fly-replay-failed");
    let prefix = format!(
        "instance={dead};app=user-b;region=lcl;replay_source={router};reason=timeout;elapsed_ms="
    );
    assert!(failed.starts_with(&prefix), "{failed}");
    let elapsed: u64 = failed[prefix.len()..].parse().expect("elapsed_ms");
    assert!(
        elapsed >= 900,
        "the replay kept trying for its timeout: {elapsed} ms"
    );

    // A fallback request may not replay again.
    let again = h
        .edge(Method::GET, "router", "/")
        .header(
            "x-echo-replay",
            format!("app=user-b;instance={dead};timeout=500ms;fallback=force_self"),
        )
        .header("x-echo-replay-on", "always")
        .send()
        .await
        .expect("edge");
    assert_eq!(again.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(flylocal_error(&again), "PA03");
}

#[tokio::test]
async fn bodies_up_to_one_mib_replay_and_larger_ones_get_pa01() {
    let (h, _router, user) = stack().await;
    let limit = 1024 * 1024;
    let response = h
        .edge(Method::POST, "router", "/upload")
        .header("x-echo-replay", "app=user-a")
        .body(vec![b'a'; limit])
        .send()
        .await
        .expect("edge");
    let echo = echo_of(response).await;
    assert_eq!(echo["machine_id"], user.as_str());
    assert_eq!(echo["body_len"], limit);

    let too_big = h
        .edge(Method::POST, "router", "/upload")
        .header("x-echo-replay", "app=user-a")
        .body(vec![b'a'; limit + 1])
        .send()
        .await
        .expect("edge");
    assert_eq!(too_big.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(flylocal_error(&too_big), "PA01");

    // Without a replay answer a large body simply streams through.
    let direct = h
        .edge(Method::POST, "router", "/upload")
        .body(vec![b'a'; limit + 1])
        .send()
        .await
        .expect("edge");
    assert_eq!(echo_of(direct).await["body_len"], limit + 1);
}

#[tokio::test]
async fn a_replay_loop_is_cut_after_ten_replays() {
    let (h, _router, _user) = stack().await;
    let response = h
        .edge(Method::GET, "router", "/")
        .header("x-echo-replay", "app=router")
        .header("x-echo-replay-on", "always")
        .send()
        .await
        .expect("edge");
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(flylocal_error(&response), "PA02");

    // Ten hops are allowed: a chain that stops replaying on the user app succeeds.
    let ok = h
        .edge(Method::GET, "router", "/")
        .header("x-echo-replay", "app=user-a")
        .header("x-echo-replay-on", "router")
        .send()
        .await
        .expect("edge");
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn json_replay_transforms_path_and_headers() {
    let (h, _router, user) = stack().await;
    let directive = json!({
        "app": "user-a",
        "transform": {
            "path": "/rewritten?y=2",
            "delete_headers": ["x-secret"],
            "set_headers": [{"name": "x-user", "value": "abc"}]
        }
    });
    let response = h
        .edge(Method::GET, "router", "/original")
        .header("x-echo-replay-json", directive.to_string())
        .header("x-secret", "do-not-forward")
        .header("x-user", "spoofed")
        .send()
        .await
        .expect("edge");
    let echo = echo_of(response).await;
    assert_eq!(echo["machine_id"], user.as_str());
    assert_eq!(echo["path"], "/rewritten?y=2");
    assert!(echo["headers"].get("x-secret").is_none());
    assert_eq!(echo["headers"]["x-user"], "abc");
}

async fn sse_stream(h: &Harness, keepalive_ms: u64) -> (String, String) {
    let path = format!("/sse?events=2&gap_ms=2500&keepalive_ms={keepalive_ms}");
    let mut response = h
        .edge(Method::GET, "user-sse", &path)
        .send()
        .await
        .expect("edge");
    assert_eq!(response.status(), StatusCode::OK);
    let first = response
        .chunk()
        .await
        .expect("first chunk")
        .expect("stream open");
    let mut rest = String::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    (String::from_utf8_lossy(&first).into_owned(), rest)
}

#[tokio::test]
async fn sse_streams_unbuffered_and_idle_streams_are_cut_unless_kept_alive() {
    let h = Harness::start().await;
    h.create_app("user-sse").await;
    let mut config = echo_config(true);
    config["services"][0]["ports"][0]["http_options"] = json!({"idle_timeout": 1});
    let id = h.create_machine("user-sse", config).await;
    h.wait_state("user-sse", &id, "started").await;
    harness::eventually("the machine serves", async || {
        h.edge(Method::GET, "user-sse", "/")
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;

    let (first, rest) = sse_stream(&h, 300).await;
    assert!(
        first.contains("data: 0") && !first.contains("data: 1"),
        "events flow one by one: {first:?}"
    );
    assert!(
        rest.contains("data: 1"),
        "keep-alives hold the stream open past idle_timeout: {rest:?}"
    );

    let started = std::time::Instant::now();
    let (first, rest) = sse_stream(&h, 0).await;
    assert!(first.contains("data: 0"));
    assert!(
        !rest.contains("data: 1"),
        "a quiet stream is cut at idle_timeout: {rest:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(2400),
        "cut after ~1 s, not at the next event"
    );
}

#[tokio::test]
async fn default_app_and_external_apps_replay_like_machines() {
    // An external "roost" app, as `roost dev` runs the router in-process: it always replays.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new()
        .fallback(|| async { ([("fly-replay", "app=user-ext;state=from-router")], "") });
    tokio::spawn(async move { axum::serve(listener, app).await });
    let h = Harness::start_with(|c| {
        c.external_apps.insert("roost".into(), addr);
        c.default_app = Some("roost".into());
    })
    .await;
    h.create_app("user-ext").await;
    let user = h.create_machine("user-ext", echo_config(true)).await;
    h.wait_state("user-ext", &user, "started").await;

    let response = h
        .client
        .get(format!("{}/mcp", h.fly.edge_url()))
        .header("host", "mcp.example.test")
        .send()
        .await
        .expect("edge");
    let echo = echo_of(response).await;
    assert_eq!(echo["machine_id"], user.as_str());
    let src = echo["headers"]["fly-replay-src"]
        .as_str()
        .unwrap_or_default();
    assert!(
        src.starts_with("instance=roost-external;") && src.ends_with("state=from-router"),
        "{src}"
    );
}

#[tokio::test]
async fn elsewhere_keeps_the_replaying_machine_out_of_the_next_pick() {
    let (h, first, _user) = stack().await;
    let second = h.create_machine("router", echo_config(true)).await;
    h.wait_state("router", &second, "started").await;
    for _ in 0..4 {
        let response = h
            .edge(Method::GET, "router", "/")
            .header("x-echo-replay", "elsewhere=true")
            .send()
            .await
            .expect("edge");
        let echo = echo_of(response).await;
        let src = echo["headers"]["fly-replay-src"]
            .as_str()
            .expect("replayed")
            .to_owned();
        let replayer = src
            .trim_start_matches("instance=")
            .split(';')
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(replayer == first || replayer == second);
        assert_ne!(
            echo["machine_id"],
            replayer.as_str(),
            "the replay went elsewhere"
        );
    }
}

#[tokio::test]
async fn replays_to_unknown_or_foreign_apps_are_refused() {
    let h = Harness::start_with(|c| {
        c.foreign_apps.insert("other-org-app".into());
    })
    .await;
    h.create_app("router").await;
    let router = h.create_machine("router", echo_config(true)).await;
    h.wait_state("router", &router, "started").await;
    for (target, code) in [("no-such-app", "PA04"), ("other-org-app", "PA05")] {
        let response = h
            .edge(Method::GET, "router", "/")
            .header("x-echo-replay", format!("app={target}"))
            .send()
            .await
            .expect("edge");
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(flylocal_error(&response), code);
    }
}
