//! The tenant admin API as an operator uses it: find out why a tenant failed, retry it,
//! suspend and resume a user (on every router sharing the database), all behind the admin
//! token.

mod support;

use reqwest::StatusCode;
use roost_router::tenants::TenantState;
use support::{Options, TestRouter};

const ADMIN_TOKEN: &str = "0123456789abcdef0123456789abcdef";

async fn router() -> TestRouter {
    let mut options = Options::offline();
    options.args.push(format!("--admin-token={ADMIN_TOKEN}"));
    TestRouter::start(options).await
}

fn admin(router: &TestRouter, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    router
        .client
        .request(method, format!("{}/admin/v1{path}", router.url))
        .bearer_auth(ADMIN_TOKEN)
}

#[tokio::test]
async fn the_admin_api_needs_the_token_and_is_absent_without_one() {
    let router = router().await;
    let url = format!("{}/admin/v1/tenants", router.url);
    assert_eq!(
        router.client.get(&url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let wrong = router
        .client
        .get(&url)
        .bearer_auth("x".repeat(32))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        admin(&router, reqwest::Method::GET, "/tenants")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    router.stop().await;

    let without = TestRouter::start(Options::offline()).await;
    let response = without
        .client
        .get(format!("{}/admin/v1/tenants", without.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    without.stop().await;
}

#[tokio::test]
async fn an_operator_sees_why_a_tenant_failed_and_retries_it() {
    let router = router().await;
    let store = router.state.tenants.store();
    let id = router.tenant_of("fay");
    store.ensure_for_user("fay", &id).await.unwrap();
    store
        .fail(
            &id,
            TenantState::Pending,
            "create_app: 401 token lacks org scope",
            None,
        )
        .await
        .unwrap();

    let failed: serde_json::Value = admin(&router, reqwest::Method::GET, "/tenants?state=failed")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(failed[0]["id"], id);
    assert_eq!(
        failed[0]["last_error"],
        "create_app: 401 token lacks org scope"
    );
    assert_eq!(failed[0]["resume_state"], "pending");

    let retried = admin(
        &router,
        reqwest::Method::POST,
        &format!("/tenants/{id}/retry"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(retried.status(), StatusCode::OK);
    let retried: serde_json::Value = retried.json().await.unwrap();
    assert_eq!(retried["state"], "pending");
    assert_eq!(retried["last_error"], serde_json::Value::Null);

    let again = admin(
        &router,
        reqwest::Method::POST,
        &format!("/tenants/{id}/retry"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::CONFLICT,
        "only failed tenants are retried"
    );
    let missing = admin(&router, reqwest::Method::GET, "/tenants/roost-u-nobody")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    router.stop().await;
}

#[tokio::test]
async fn a_suspended_user_is_refused_at_once_and_served_again_after_resume() {
    let router = router().await;
    let id = router.seed_ready_tenant("sam").await;
    let token = router.token("sam");
    assert_eq!(
        router.mcp(Some(&token)).await.status(),
        StatusCode::TEMPORARY_REDIRECT
    );

    let suspended = admin(
        &router,
        reqwest::Method::POST,
        &format!("/tenants/{id}/suspend"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(suspended.status(), StatusCode::OK);
    assert_eq!(
        router.mcp(Some(&token)).await.status(),
        StatusCode::FORBIDDEN,
        "the cache was refreshed"
    );

    let twice = admin(
        &router,
        reqwest::Method::POST,
        &format!("/tenants/{id}/suspend"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(twice.status(), StatusCode::CONFLICT);
    let body: serde_json::Value = twice.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("suspended"),
        "{body}"
    );

    let resumed = admin(
        &router,
        reqwest::Method::POST,
        &format!("/tenants/{id}/resume"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resumed.status(), StatusCode::OK);
    assert_eq!(
        router.mcp(Some(&token)).await.status(),
        StatusCode::TEMPORARY_REDIRECT
    );
    router.stop().await;
}

#[tokio::test]
async fn a_suspension_made_on_one_router_reaches_another_sharing_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::offline();
    options.database_url = Some(format!(
        "sqlite://{}",
        dir.path().join("shared.db").display()
    ));
    options.args.extend([
        format!("--admin-token={ADMIN_TOKEN}"),
        // The cache would trust an entry for an hour: only the poll can bring the news.
        "--tenant-cache-ttl=1h".to_owned(),
        "--tenant-poll=200ms".to_owned(),
    ]);
    let first = TestRouter::start(options.clone()).await;
    options.key = Some(first.key.clone());
    options.public_url = Some(first.url.clone());
    let second = TestRouter::start(options).await;
    let id = first.seed_ready_tenant("sam").await;
    let token = first.token("sam");
    for router in [&first, &second] {
        assert_eq!(
            router.mcp(Some(&token)).await.status(),
            StatusCode::TEMPORARY_REDIRECT
        );
    }

    let act = |action: &str| {
        admin(
            &first,
            reqwest::Method::POST,
            &format!("/tenants/{id}/{action}"),
        )
        .send()
    };
    assert_eq!(act("suspend").await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        first.mcp(Some(&token)).await.status(),
        StatusCode::FORBIDDEN
    );
    let refused = support::eventually(std::time::Duration::from_secs(10), || async {
        second.mcp(Some(&token)).await.status() == StatusCode::FORBIDDEN
    })
    .await;
    assert!(refused, "the other router learnt of the suspension");

    assert_eq!(act("resume").await.unwrap().status(), StatusCode::OK);
    let served = support::eventually(std::time::Duration::from_secs(10), || async {
        second.mcp(Some(&token)).await.status() == StatusCode::TEMPORARY_REDIRECT
    })
    .await;
    assert!(served, "and of the resumption");
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn deleting_a_tenant_removes_its_fly_app_and_the_user_gets_410() {
    let (fly, _dir) = support::flylocal(|_| {}).await;
    let mut options = Options::with_fly(&fly.api_url());
    options.args.push(format!("--admin-token={ADMIN_TOKEN}"));
    let router = TestRouter::start(options).await;
    let token = router.token("alice");
    let id = router.tenant_of("alice");
    assert_eq!(
        router.mcp(Some(&token)).await.status(),
        StatusCode::TEMPORARY_REDIRECT
    );
    assert_eq!(fly.apps(), vec![id.clone()]);

    let response = admin(&router, reqwest::Method::DELETE, &format!("/tenants/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let store = router.state.tenants.store().clone();
    let deleted = support::eventually(std::time::Duration::from_secs(30), || async {
        store.get(&id).await.unwrap().unwrap().state == TenantState::Deleted
    })
    .await;
    assert!(deleted, "the deletion finished");
    assert!(
        fly.apps().is_empty(),
        "the app (and with it machine and volume) is gone: {:?}",
        fly.apps()
    );

    let gone = router.mcp(Some(&token)).await;
    assert_eq!(gone.status(), StatusCode::GONE);
    let again = admin(&router, reqwest::Method::DELETE, &format!("/tenants/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK, "deleting twice is harmless");
    router.stop().await;
    fly.shutdown().await.unwrap();
}
