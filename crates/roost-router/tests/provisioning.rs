//! Provisioning against flylocal (the local Fly platform, with its real Machines API, rate
//! limits and fault injection): a new user's first request creates exactly one app, volume and
//! machine, under concurrency, faults, a taken name, two routers and a router restart.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use roost_flylocal::{EndpointFaults, Faults, FlyLocal, MachineState};
use roost_router::tenants::TenantState;
use support::{Options, TestRouter, eventually, fly_counts, flylocal};

/// Creates of each kind in flylocal's log that took effect (2xx, or an injected ambiguous
/// failure which did the work anyway is counted by the resource counts instead).
fn successful(fly: &FlyLocal, action: &str) -> usize {
    fly.request_log()
        .iter()
        .filter(|r| r.action == action && r.status < 300)
        .count()
}

fn live_machines(fly: &FlyLocal, app: &str) -> usize {
    fly.machines()
        .iter()
        .filter(|m| m.app == app && !matches!(m.state, MachineState::Destroyed))
        .count()
}

/// Sends first requests until one is replayed (the client-side retry the 503 asks for).
async fn until_replayed(router: &TestRouter, token: &str) -> serde_json::Value {
    for _ in 0..60 {
        let response = router.mcp(Some(token)).await;
        match response.status() {
            StatusCode::TEMPORARY_REDIRECT => return response.json().await.unwrap(),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(response.headers().contains_key("retry-after"));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
        }
    }
    panic!("the tenant never became ready");
}

#[tokio::test]
async fn a_new_users_first_request_provisions_their_own_app_volume_and_machine() {
    let (fly, _dir) = flylocal(|_| {}).await;
    let router = TestRouter::start(Options::with_fly(&fly.api_url())).await;
    let app = router.tenant_of("alice");

    let response = router.mcp(Some(&router.token("alice"))).await;
    assert_eq!(
        response.status(),
        StatusCode::TEMPORARY_REDIRECT,
        "{:?}",
        response.text().await
    );

    let tenant = router
        .state
        .tenants
        .store()
        .get(&app)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tenant.state, TenantState::Ready);
    assert_eq!(tenant.region.as_deref(), Some("lcl"));
    assert!(tenant.app_id.is_some() && tenant.volume_id.is_some() && tenant.machine_id.is_some());
    assert_eq!(fly.apps(), vec![app.clone()]);
    assert_eq!(fly_counts(&fly, &app).await, (1, 1));

    // The machine was made from fly.user.toml and knows whose it is.
    let machine: serde_json::Value = router
        .client
        .get(format!(
            "{}/v1/apps/{app}/machines/{}",
            fly.api_url(),
            tenant.machine_id.unwrap()
        ))
        .bearer_auth("test-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let config = &machine["config"];
    assert_eq!(config["metadata"]["roost_tenant"], app);
    assert_eq!(config["env"]["ROOST_TENANT"], app);
    assert_eq!(
        config["env"]["ROOST_AUDIENCE"],
        format!("{}/mcp", router.url)
    );
    assert_eq!(config["mounts"][0]["volume"], tenant.volume_id.unwrap());
    assert_eq!(config["services"][0]["autostart"], true);

    // Provisioning is visible to operators.
    let metrics = router
        .client
        .get(format!("{}/metrics", router.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("roost_router_provision_seconds_count"),
        "{metrics}"
    );
    for step in [
        "create_app",
        "create_volume",
        "create_machine",
        "start_machine",
    ] {
        assert!(
            metrics.contains(&format!(
                r#"roost_router_provision_step_seconds_count{{step="{step}",result="ok"}}"#
            )),
            "{step}"
        );
    }

    // A second user gets a different app.
    let response = router.mcp(Some(&router.token("bob"))).await;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["app"], router.tenant_of("bob"));
    assert_ne!(router.tenant_of("bob"), app);
    router.stop().await;
    fly.shutdown().await.unwrap();
}

#[tokio::test]
async fn fifty_concurrent_first_requests_share_one_provisioning() {
    let (fly, _dir) = flylocal(|_| {}).await;
    let router = TestRouter::start(Options::with_fly(&fly.api_url())).await;
    let token = router.token("alice");
    let app = router.tenant_of("alice");

    let requests = (0..50).map(|_| router.mcp(Some(&token)));
    let responses = futures::future::join_all(requests).await;
    for response in responses {
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    }
    assert_eq!(successful(&fly, "app_create"), 1);
    assert_eq!(successful(&fly, "volume_create"), 1);
    assert_eq!(successful(&fly, "machine_create"), 1);
    assert_eq!(fly_counts(&fly, &app).await, (1, 1));
    router.stop().await;
    fly.shutdown().await.unwrap();
}

#[tokio::test]
async fn provisioning_under_thirty_percent_faults_and_429s_leaves_no_duplicates() {
    let (fly, _dir) = flylocal(|config| {
        config.faults = Faults {
            seed: 7,
            hang_ms: 200,
            endpoints: [(
                "*".to_owned(),
                EndpointFaults {
                    throttle_rate: 0.1,
                    error_rate: 0.1,
                    ambiguous_rate: 0.1,
                    ..EndpointFaults::default()
                },
            )]
            .into(),
            ..Faults::default()
        };
    })
    .await;
    let router = TestRouter::start(Options::with_fly(&fly.api_url())).await;
    let users = ["alice", "bob", "carol"];
    for user in users {
        let body = until_replayed(&router, &router.token(user)).await;
        assert_eq!(body["app"], router.tenant_of(user));
    }
    fly.set_faults(Faults::default());
    assert_eq!(
        fly.apps().len(),
        users.len(),
        "no app twice: {:?}",
        fly.apps()
    );
    for user in users {
        let app = router.tenant_of(user);
        assert_eq!(
            fly_counts(&fly, &app).await,
            (1, 1),
            "{app}: one machine, one volume"
        );
        assert_eq!(live_machines(&fly, &app), 1);
    }
    router.stop().await;
    fly.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_app_name_taken_elsewhere_on_fly_gets_a_new_suffix() {
    let router_probe = TestRouter::start(Options::offline()).await;
    let taken = router_probe.tenant_of("alice");
    router_probe.stop().await;

    let (fly, _dir) = flylocal(|config| {
        config.foreign_apps.insert(taken.clone());
    })
    .await;
    let router = TestRouter::start(Options::with_fly(&fly.api_url())).await;
    let body = until_replayed(&router, &router.token("alice")).await;
    assert_eq!(body["app"], format!("{taken}-2"));
    let tenant = router
        .state
        .tenants
        .store()
        .get(&taken)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tenant.id, taken, "the tenant id (and token claim) stays");
    assert_eq!(tenant.app_name, format!("{taken}-2"));
    router.stop().await;
    fly.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_machine_that_cannot_launch_fails_the_tenant_with_an_operator_visible_reason() {
    let (fly, _dir) = flylocal(|config| {
        config.faults.start_failures.insert(
            support::IMAGE.to_owned(),
            roost_flylocal::StartFailure::LaunchFailed,
        );
    })
    .await;
    let mut options = Options::with_fly(&fly.api_url());
    options.provision_wait = Duration::from_secs(5);
    let router = TestRouter::start(options).await;
    let app = router.tenant_of("alice");
    let token = router.token("alice");

    let failed = eventually(Duration::from_secs(120), || async {
        let response = router.mcp(Some(&token)).await;
        response.status() == StatusCode::SERVICE_UNAVAILABLE
            && response.json::<serde_json::Value>().await.unwrap()["error"] == "provisioning_failed"
    })
    .await;
    assert!(
        failed,
        "the tenant ends failed rather than retrying forever"
    );
    let tenant = router
        .state
        .tenants
        .store()
        .get(&app)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tenant.state, TenantState::Failed);
    assert_eq!(tenant.resume_state, Some(TenantState::MachineCreated));
    let reason = tenant.last_error.unwrap();
    assert!(reason.contains("start_machine"), "{reason}");
    router.stop().await;
    fly.shutdown().await.unwrap();
}

#[tokio::test]
async fn two_routers_on_one_database_create_one_app() {
    let (fly, _dir) = flylocal(|_| {}).await;
    let db_dir = tempfile::tempdir().unwrap();
    let (database_url, _pg) = match support::postgres_database().await {
        Some((url, guard)) => (url, Some(guard)),
        None => (
            format!("sqlite://{}/shared.db", db_dir.path().display()),
            None,
        ),
    };
    let key = roost_token::SigningKey::generate();
    let options = |id: &str| {
        let mut o = Options::with_fly(&fly.api_url());
        o.database_url = Some(database_url.clone());
        o.instance_id = Some(id.to_owned());
        o.key = Some(key.clone());
        o.public_url = Some("https://roost.test".to_owned());
        o
    };
    let a = TestRouter::start(options("router-a")).await;
    let b = TestRouter::start(options("router-b")).await;
    let token = a.token("alice");
    let app = a.tenant_of("alice");

    let requests = (0..10).map(|i| {
        if i % 2 == 0 {
            a.mcp(Some(&token))
        } else {
            b.mcp(Some(&token))
        }
    });
    for response in futures::future::join_all(requests).await {
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    }
    assert_eq!(successful(&fly, "app_create"), 1);
    assert_eq!(successful(&fly, "machine_create"), 1);
    assert_eq!(fly_counts(&fly, &app).await, (1, 1));
    a.stop().await;
    b.stop().await;
    fly.shutdown().await.unwrap();
}

#[test]
fn a_router_killed_mid_provisioning_resumes_after_a_restart() {
    let fly_runtime = tokio::runtime::Runtime::new().unwrap();
    let (fly, _dir) = fly_runtime.block_on(flylocal(|config| {
        // Every volume create hangs for a while: the router dies during that step.
        config.faults = Faults {
            hang_ms: 3_000,
            endpoints: [(
                "volume_create".to_owned(),
                EndpointFaults {
                    timeout_rate: 1.0,
                    ..EndpointFaults::default()
                },
            )]
            .into(),
            ..Faults::default()
        };
    }));
    let db_dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}/roost.db", db_dir.path().display());
    let key = roost_token::SigningKey::generate();
    let mut options = Options::with_fly(&fly.api_url());
    options.database_url = Some(database_url);
    options.instance_id = Some("router-1".to_owned());
    options.key = Some(key);
    options.provision_wait = Duration::from_secs(1);

    // First life: the request starts provisioning; the router's runtime is dropped (every task
    // killed) while the volume create hangs.
    let first = tokio::runtime::Runtime::new().unwrap();
    let app = first.block_on(async {
        let router = TestRouter::start(options.clone()).await;
        let response = router.mcp(Some(&router.token("alice"))).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let app = router.tenant_of("alice");
        let store = router.state.tenants.store().clone();
        assert!(
            eventually(Duration::from_secs(10), || async {
                store.get(&app).await.unwrap().unwrap().state == TenantState::AppCreated
            })
            .await
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        app
    });
    drop(first);
    fly.set_faults(Faults::default());

    // Second life: no request needed; the restarted router resumes the tenant on its own.
    let second = tokio::runtime::Runtime::new().unwrap();
    second.block_on(async {
        let router = TestRouter::start(options.clone()).await;
        let store = router.state.tenants.store().clone();
        let ready = eventually(Duration::from_secs(60), || async {
            store.get(&app).await.unwrap().unwrap().state == TenantState::Ready
        })
        .await;
        assert!(ready, "provisioning resumed after the restart");
        router.stop().await;
    });
    assert_eq!(
        fly_runtime.block_on(fly_counts(&fly, &app)),
        (1, 1),
        "the hung create was found, not repeated"
    );
    fly_runtime.block_on(fly.shutdown()).unwrap();
}
