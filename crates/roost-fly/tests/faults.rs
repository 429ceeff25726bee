//! The client's behaviour under injected faults, against an in-test server: which failures are
//! retried, that an ambiguous create is never repeated blindly and the look-up helpers find
//! what it left behind, that a 429's `Retry-After` is honoured, and that Fly's published rate
//! limits are kept without a single 429.

#[path = "support/fake_fly.rs"]
mod fake_fly;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use fake_fly::{FakeFly, Reply, fixture_json};
use roost_fly::types::{CreateMachineRequest, MachineConfig};
use roost_fly::{FlyClient, FlyErrorKind, RateLimits};

fn tagged_machine(tenant: &str) -> CreateMachineRequest {
    let mut config = MachineConfig {
        image: "registry.fly.io/roost-workspace:1".into(),
        ..MachineConfig::default()
    };
    config.metadata.insert("roost_tenant".into(), tenant.into());
    CreateMachineRequest {
        config,
        ..CreateMachineRequest::default()
    }
}

fn count(fly: &FakeFly, method: &str) -> usize {
    fly.requests().iter().filter(|r| r.method == method).count()
}

#[tokio::test]
async fn a_503_on_a_read_is_retried_until_it_succeeds() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let fly = FakeFly::start(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::json(503, r#"{"error":"service unavailable"}"#)
        } else {
            Reply::fixture(200, "machine.json")
        }
    })
    .await;
    let machine = fly
        .client()
        .get_machine("a", "3d8d413b29d089")
        .await
        .unwrap();
    assert_eq!(machine.id, "3d8d413b29d089");
    assert_eq!(fly.requests().len(), 2);
}

#[tokio::test]
async fn retries_stop_after_max_attempts() {
    let fly = FakeFly::start(|_| Reply::json(502, "bad gateway")).await;
    let err = fly.client().get_machine("a", "m1").await.unwrap_err();
    assert_eq!(err.kind, FlyErrorKind::Transient);
    assert_eq!(err.status, Some(502));
    assert_eq!(fly.requests().len(), 4, "max_attempts in FakeFly::config");
}

#[tokio::test]
async fn an_ambiguous_machine_create_is_not_repeated_and_the_tag_finds_the_machine() {
    // The server creates the Machine, then answers 500: the classic ambiguous failure.
    let created: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let store = created.clone();
    let fly = FakeFly::start(move |r| match r.method.as_str() {
        "POST" => {
            let mut machine = fixture_json("machine.json");
            machine["id"] = json!("e2865013b71e86");
            machine["config"] = r.json()["config"].clone();
            store.lock().unwrap().push(machine);
            Reply::json(500, r#"{"error":"internal error","status":"unknown"}"#)
        }
        _ => Reply::json(200, json!(*store.lock().unwrap()).to_string()),
    })
    .await;
    let client = fly.client();

    let err = client
        .create_machine("a", &tagged_machine("t-1"))
        .await
        .unwrap_err();
    assert!(err.is_ambiguous(), "{err:?}");
    assert_eq!(
        count(&fly, "POST"),
        1,
        "an ambiguous create must not be retried"
    );

    let found = client
        .find_machines_by_tag("a", "roost_tenant", "t-1")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, "e2865013b71e86");
    assert_eq!(created.lock().unwrap().len(), 1, "no duplicate Machine");
}

#[tokio::test]
async fn an_ambiguous_app_create_is_found_by_name() {
    let exists = Arc::new(AtomicUsize::new(0));
    let flag = exists.clone();
    let fly = FakeFly::start(
        move |r| match (r.method.as_str(), flag.load(Ordering::SeqCst)) {
            ("POST", _) => {
                flag.store(1, Ordering::SeqCst);
                Reply::json(504, "gateway timeout")
            }
            ("GET", 1) => Reply::fixture(200, "app_get.json"),
            _ => Reply::fixture(404, "error_not_found.json"),
        },
    )
    .await;
    let client = fly.client();
    let err = client.create_app("roost-u-abc123", None).await.unwrap_err();
    assert!(err.is_ambiguous());
    assert_eq!(count(&fly, "POST"), 1);
    let app = client.find_app_by_name("roost-u-abc123").await.unwrap();
    assert_eq!(app.unwrap().name, "roost-u-abc123");
}

#[tokio::test]
async fn a_create_that_times_out_is_ambiguous_and_not_repeated_while_a_read_is_retried() {
    let fly =
        FakeFly::start(|_| Reply::fixture(200, "volume.json").after(Duration::from_secs(2))).await;
    let mut config = fly.config();
    config.timeout = Duration::from_millis(200);
    let client = FlyClient::new(config).unwrap();

    let request = roost_fly::types::CreateVolumeRequest {
        name: "data".into(),
        region: "iad".into(),
        ..Default::default()
    };
    let err = client.create_volume("a", &request).await.unwrap_err();
    assert_eq!(err.kind, FlyErrorKind::Transient);
    assert!(err.is_ambiguous());
    assert!(err.message.contains("timed out"), "{err}");
    assert_eq!(count(&fly, "POST"), 1);

    let err = client.get_volume("a", "vol_abc123").await.unwrap_err();
    assert!(!err.is_ambiguous(), "a read never is");
    assert_eq!(count(&fly, "GET"), 4);
}

#[tokio::test]
async fn a_refused_connection_is_transient_but_not_ambiguous() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let fly = FakeFly::start(|_| Reply::json(200, "{}")).await;
    let mut config = fly.config();
    config.base_url = format!("http://{addr}").parse().unwrap();
    let err = FlyClient::new(config)
        .unwrap()
        .create_machine("a", &tagged_machine("t"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, FlyErrorKind::Transient);
    assert!(!err.is_ambiguous(), "the request never left: {err:?}");
    assert!(err.message.contains("could not connect"), "{err}");
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after_even_on_a_create() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let fly = FakeFly::start(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::json(429, r#"{"error":"rate limit exceeded"}"#).header("retry-after", "1")
        } else {
            Reply::fixture(200, "machine.json")
        }
    })
    .await;
    fly.client()
        .create_machine("a", &tagged_machine("t"))
        .await
        .unwrap();
    let requests = fly.requests();
    assert_eq!(
        requests.len(),
        2,
        "a 429 did nothing, so the create is repeated"
    );
    let gap = requests[1].at - requests[0].at;
    assert!(
        gap >= Duration::from_millis(990),
        "Retry-After: 1 honoured, waited {gap:?}"
    );
}

#[tokio::test]
async fn a_429_that_outlasts_the_retries_is_rate_limited_with_its_retry_after() {
    let fly = FakeFly::start(|_| Reply::json(429, "{}").header("retry-after", "0")).await;
    let err = fly.client().list_apps().await.unwrap_err();
    assert_eq!(
        err.kind,
        FlyErrorKind::RateLimited {
            retry_after: Some(Duration::ZERO)
        }
    );
}

/// A server that enforces Fly's published limits (fly.md §2.7) with token buckets and answers
/// 429 beyond them, counting how often it had to.
struct Enforcer {
    buckets: Mutex<HashMap<&'static str, (f64, Instant)>>,
    rejected: AtomicUsize,
}

impl Enforcer {
    /// Whether a request of `action` may pass now. A 50 ms allowance absorbs scheduling jitter.
    fn admit(&self, action: &'static str, per_second: f64, burst: f64) -> bool {
        let mut buckets = self.buckets.lock().unwrap();
        let now = Instant::now();
        let (tokens, last) = buckets.entry(action).or_insert((burst, now));
        *tokens = (*tokens + (now - *last).as_secs_f64() * per_second).min(burst);
        *last = now;
        if *tokens >= 1.0 - 0.05 * per_second {
            *tokens -= 1.0;
            true
        } else {
            self.rejected.fetch_add(1, Ordering::SeqCst);
            false
        }
    }
}

#[tokio::test]
async fn creates_and_gets_are_paced_to_flys_limits_without_a_single_429() {
    let enforcer = Arc::new(Enforcer {
        buckets: Mutex::default(),
        rejected: AtomicUsize::new(0),
    });
    let limits = enforcer.clone();
    let fly = FakeFly::start(move |r| {
        let admitted = match r.method.as_str() {
            "POST" => limits.admit("create machine", 1.0, 3.0),
            _ => limits.admit("get machine", 5.0, 10.0),
        };
        if admitted {
            Reply::fixture(200, "machine.json")
        } else {
            Reply::json(429, r#"{"error":"rate limited"}"#)
        }
    })
    .await;
    let mut config = fly.config();
    config.rate_limits = RateLimits::default();
    let client = FlyClient::new(config).unwrap();

    // 6 creates: a burst of 3, then one per second → the last leaves ≥ 3 s after the first.
    // 15 gets: a burst of 10, then five per second → ≥ 1 s. All at once, as a rollout would.
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..6 {
        let client = client.clone();
        tasks.spawn(async move {
            client
                .create_machine("a", &tagged_machine(&format!("t-{i}")))
                .await
                .map(drop)
        });
    }
    for _ in 0..15 {
        let client = client.clone();
        tasks.spawn(async move { client.get_machine("a", "3d8d413b29d089").await.map(drop) });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    let elapsed = started.elapsed();

    assert_eq!(enforcer.rejected.load(Ordering::SeqCst), 0, "no 429 at all");
    assert_eq!(fly.requests().len(), 21, "every call went out exactly once");
    assert!(
        elapsed >= Duration::from_millis(2900),
        "6 creates took only {elapsed:?}"
    );
    let posts: Vec<_> = fly
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    let create_span = posts[5].at - posts[0].at;
    assert!(
        create_span >= Duration::from_millis(2900),
        "creates spanned {create_span:?}"
    );
    let gets: Vec<_> = fly
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    let get_span = gets[14].at - gets[0].at;
    assert!(
        get_span >= Duration::from_millis(900),
        "gets spanned {get_span:?}"
    );
}
