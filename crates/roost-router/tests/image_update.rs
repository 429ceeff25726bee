//! Rolling a new workspace image out to existing tenants through the admin API, against
//! flylocal's Machines API: the machine's config changes under a lease, a running machine
//! comes back on the new image, a stopped one stays stopped, and the volume stays mounted.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use roost_flylocal::{FlyLocal, ImageSpec};
use serde_json::Value;
use support::{Options, TestRouter};

const ADMIN_TOKEN: &str = "0123456789abcdef0123456789abcdef";
const NEXT_IMAGE: &str = "registry.fly.io/roost-test:2";

/// flylocal's Machines API, as an operator's script would call it.
async fn fly_api(fly: &FlyLocal, method: reqwest::Method, path: &str) -> Value {
    let response = reqwest::Client::new()
        .request(method, format!("{}/v1{path}", fly.api_url()))
        .bearer_auth("test-token")
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap_or(Value::Null)
}

async fn update(router: &TestRouter, id: &str, query: &str) -> (StatusCode, Value) {
    let response = router
        .client
        .post(format!(
            "{}/admin/v1/tenants/{id}/update{query}",
            router.url
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_new_workspace_image_reaches_existing_tenants_and_keeps_their_volumes() {
    let (fly, _fly_dir) = support::flylocal(|config| {
        let mut sleep = ImageSpec::new("/bin/sleep");
        sleep.args = vec!["3600".to_owned()];
        config.images.insert(NEXT_IMAGE.to_owned(), sleep);
    })
    .await;
    let db_dir = tempfile::tempdir().unwrap();
    let mut options = Options::with_fly(&fly.api_url());
    options.database_url = Some(format!(
        "sqlite://{}",
        db_dir.path().join("roost.db").display()
    ));
    options.args.push(format!("--admin-token={ADMIN_TOKEN}"));

    // Yesterday's router, on the old image, provisions two users; bob's machine then idles.
    let old = TestRouter::start(options.clone()).await;
    for user in ["alice", "bob"] {
        let answer = old.mcp(Some(&old.token(user))).await;
        assert_eq!(answer.status(), StatusCode::TEMPORARY_REDIRECT, "{user}");
    }
    let store = old.state.tenants.store().clone();
    let alice = store.get(&old.tenant_of("alice")).await.unwrap().unwrap();
    let bob = store.get(&old.tenant_of("bob")).await.unwrap().unwrap();
    old.stop().await;
    let machine_path = |t: &roost_router::tenants::Tenant| {
        format!(
            "/apps/{}/machines/{}",
            t.app_name,
            t.machine_id.as_deref().unwrap()
        )
    };
    let bob_machine = machine_path(&bob);
    fly_api(&fly, reqwest::Method::POST, &format!("{bob_machine}/stop")).await;
    fly_api(
        &fly,
        reqwest::Method::GET,
        &format!("{bob_machine}/wait?state=stopped&timeout=30"),
    )
    .await;

    // Today's router runs with the new image.
    options.image = NEXT_IMAGE.to_owned();
    let router = TestRouter::start(options.clone()).await;

    let before = fly_api(&fly, reqwest::Method::GET, &machine_path(&alice)).await;
    let (status, answer) = update(&router, &alice.id, "").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["updated"], true);
    assert_eq!(answer["previous_image"], support::IMAGE);
    assert_eq!(answer["tenant"]["image"], NEXT_IMAGE);
    let machine = fly_api(&fly, reqwest::Method::GET, &machine_path(&alice)).await;
    assert_eq!(machine["config"]["image"], NEXT_IMAGE);
    assert_ne!(
        machine["instance_id"], before["instance_id"],
        "a new machine version"
    );
    assert_eq!(
        machine["config"]["mounts"][0]["volume"],
        alice.volume_id.as_deref().unwrap(),
        "the user's volume stays mounted"
    );
    assert_eq!(machine["config"]["env"]["ROOST_TENANT"], alice.id);
    let started = support::eventually(Duration::from_secs(30), || async {
        fly_api(&fly, reqwest::Method::GET, &machine_path(&alice)).await["state"] == "started"
    })
    .await;
    assert!(started, "a running machine comes back on the new image");

    let (status, answer) = update(&router, &bob.id, "").await;
    assert_eq!(
        (status, &answer["updated"]),
        (StatusCode::OK, &Value::Bool(true))
    );
    let machine = fly_api(&fly, reqwest::Method::GET, &bob_machine).await;
    assert_eq!(machine["config"]["image"], NEXT_IMAGE);
    assert_eq!(machine["state"], "stopped", "an idle machine is not woken");
    // Its user's next request still reaches it (the replay autostarts it).
    let answer = router.mcp(Some(&router.token("bob"))).await;
    assert_eq!(answer.status(), StatusCode::TEMPORARY_REDIRECT);

    // Running the rollout again changes nothing, unless forced.
    let (status, answer) = update(&router, &alice.id, "").await;
    assert_eq!(
        (status, &answer["updated"]),
        (StatusCode::OK, &Value::Bool(false))
    );
    let (status, answer) = update(&router, &alice.id, "?force=true").await;
    assert_eq!(
        (status, &answer["updated"]),
        (StatusCode::OK, &Value::Bool(true))
    );

    // Refusals say why.
    let (status, answer) = update(&router, "roost-u-nobody", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    router.stop().await;

    // A mistyped image is refused by Fly: the update fails, naming the cause, and the
    // tenant's machine and record keep the image that works.
    options.image = "registry.fly.io/roost-test:typo".to_owned();
    let router = TestRouter::start(options).await;
    let (status, answer) = update(&router, &alice.id, "").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("manifest"),
        "{answer}"
    );
    let machine = fly_api(&fly, reqwest::Method::GET, &machine_path(&alice)).await;
    assert_eq!(machine["config"]["image"], NEXT_IMAGE);
    let record = store.get(&alice.id).await.unwrap().unwrap();
    assert_eq!(record.image.as_deref(), Some(NEXT_IMAGE));
    router.stop().await;
    fly.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_tenant_without_a_machine_is_not_updated_and_a_held_lease_is_respected() {
    let (fly, _fly_dir) = support::flylocal(|_| {}).await;
    let mut options = Options::with_fly(&fly.api_url());
    options.args.push(format!("--admin-token={ADMIN_TOKEN}"));
    let router = TestRouter::start(options).await;

    // A failed tenant has nothing to update.
    let store = router.state.tenants.store().clone();
    let carol = router.tenant_of("carol");
    store.ensure_for_user("carol", &carol).await.unwrap();
    store
        .fail(
            &carol,
            roost_router::tenants::TenantState::Pending,
            "test: the image does not exist",
            None,
        )
        .await
        .unwrap();
    let (status, answer) = update(&router, &carol, "?force=true").await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("`failed`"),
        "{answer}"
    );

    // Someone else (an operator's `fly machine update`) holds the machine's lease.
    assert_eq!(
        router.mcp(Some(&router.token("dave"))).await.status(),
        StatusCode::TEMPORARY_REDIRECT
    );
    let dave = store.get(&router.tenant_of("dave")).await.unwrap().unwrap();
    let machine = format!(
        "/apps/{}/machines/{}",
        dave.app_name,
        dave.machine_id.as_deref().unwrap()
    );
    let lease = reqwest::Client::new()
        .post(format!("{}/v1{machine}/lease", fly.api_url()))
        .bearer_auth("test-token")
        .json(&serde_json::json!({ "ttl": 60, "description": "an operator" }))
        .send()
        .await
        .unwrap();
    assert!(lease.status().is_success());
    let (status, answer) = update(&router, &dave.id, "?force=true").await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("lease"),
        "{answer}"
    );
    router.stop().await;
    fly.shutdown().await.unwrap();
}
