//! Forwarding against real sockets: a tenant that answers, one that is not running, a
//! Machines API that never answers.

use super::*;

#[test]
fn connection_level_headers_are_not_forwarded_and_the_rest_is() {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("connection", "keep-alive, x-hop"),
        ("x-hop", "1"),
        ("keep-alive", "timeout=5"),
        ("transfer-encoding", "chunked"),
        ("te", "trailers"),
        ("upgrade", "h2c"),
        ("authorization", "Bearer t"),
        ("content-length", "1048577"),
        ("mcp-session-id", "s1"),
        ("host", "mcp.example.com"),
    ] {
        headers.insert(HeaderName::from_static(name), value.parse().unwrap());
    }
    strip_hop_by_hop(&mut headers);
    let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
    left.sort_unstable();
    assert_eq!(
        left,
        ["authorization", "content-length", "host", "mcp-session-id"]
    );
}

/// Resolves every name to one address.
struct Fixed(SocketAddr);

impl PrivateNetwork for Fixed {
    fn resolve<'a>(
        &'a self,
        _host: &'a str,
        _port: u16,
    ) -> BoxFuture<'a, Result<SocketAddr, ProxyError>> {
        Box::pin(async move { Ok(self.0) })
    }
}

fn fly_at(addr: SocketAddr) -> FlyClient {
    let url = Url::parse(&format!("http://{addr}")).unwrap();
    FlyClient::new(roost_fly::FlyClientConfig::new(
        url,
        "test-token",
        "personal",
    ))
    .unwrap()
}

fn route() -> Route {
    Route {
        tenant_id: "t1".to_owned(),
        user_id: "alice".to_owned(),
        state: crate::tenants::TenantState::Ready,
        app_name: "roost-u-t1".to_owned(),
        machine_id: Some("m1".to_owned()),
        replay_body: axum::body::Bytes::new(),
        updated_at_ms: 0,
    }
}

fn large_request() -> Request {
    Request::builder()
        .method("POST")
        .uri("/mcp")
        .body(Body::from(vec![b'x'; 1024 * 1024 + 1]))
        .unwrap()
}

/// An address where nothing listens: connections are refused.
async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A server that accepts connections and never answers.
async fn silent_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

/// A tenant workspace that answers every request with the size of its body.
async fn tenant() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .fallback(|body: axum::body::Bytes| async move { body.len().to_string() });
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn a_running_machine_is_reached_without_asking_the_machines_api() {
    // The Machines API never answers: any call to it would stall the request.
    let fly = fly_at(silent_server().await);
    let forwarder = Forwarder::new(fly, Arc::new(Fixed(tenant().await)), 8080);
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        forwarder.forward(&route(), large_request()),
    )
    .await
    .expect("a running machine is forwarded to at once")
    .unwrap();
    assert_eq!(response.status(), 200);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(&body[..], b"1048577");
}

#[tokio::test]
async fn a_stopped_machine_whose_start_stalls_gets_a_bounded_503() {
    let fly = fly_at(silent_server().await);
    let mut forwarder = Forwarder::new(fly, Arc::new(Fixed(closed_port().await)), 8080);
    forwarder.start_timeout = Duration::from_millis(300);
    let error = tokio::time::timeout(
        Duration::from_secs(5),
        forwarder.forward(&route(), large_request()),
    )
    .await
    .expect("the wait for the Machines API is bounded")
    .unwrap_err();
    assert!(matches!(error, ProxyError::StartTimedOut { .. }), "{error}");

    let response = axum::response::IntoResponse::into_response(ApiError::WorkspaceStarting {
        retry_after: START_RETRY_AFTER,
    });
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()[header::RETRY_AFTER], "5");
}

#[tokio::test]
async fn a_tenant_that_sends_no_response_headers_gets_a_504_and_a_slow_body_does_not() {
    let fly = fly_at(closed_port().await);
    let silent = Forwarder::new(fly.clone(), Arc::new(Fixed(silent_server().await)), 8080)
        .response_timeout(Duration::from_millis(300));
    let error = tokio::time::timeout(
        Duration::from_secs(5),
        silent.forward(&route(), large_request()),
    )
    .await
    .expect("the wait for response headers is bounded")
    .unwrap_err();
    assert!(
        matches!(error, ProxyError::ResponseTimedOut { .. }),
        "{error}"
    );
    let response = axum::response::IntoResponse::into_response(ApiError::WorkspaceTimeout);
    assert_eq!(response.status(), 504);

    // Headers at once, then a body slower than the timeout: streamed, not cut.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(|| async {
        let events = futures::stream::unfold(0, |n| async move {
            (n < 2).then_some(())?;
            tokio::time::sleep(Duration::from_millis(400)).await;
            Some((Ok::<_, std::io::Error>(format!("event {n}\n")), n + 1))
        });
        Body::from_stream(events)
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    let streaming = Forwarder::new(fly, Arc::new(Fixed(addr)), 8080)
        .response_timeout(Duration::from_millis(300));
    let response = streaming.forward(&route(), large_request()).await.unwrap();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(&body[..], b"event 0\nevent 1\n");
}
