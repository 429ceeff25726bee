//! Apps (fly.md §2.2).

use serde_json::json;

use crate::fake_fly::{FakeFly, Reply};
use roost_fly::FlyErrorKind;

#[tokio::test]
async fn create_app_posts_name_and_org_slug() {
    let fly = FakeFly::start(|_| Reply::fixture(201, "app_create_response.json")).await;
    let created = fly
        .client()
        .create_app("roost-u-abc123", None)
        .await
        .unwrap();
    assert_eq!(created.id, "0ynwkrr5p9jv2e9w");
    assert_eq!(created.created_at, Some(1_763_900_000_000));

    let request = fly.only_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.uri(), "/v1/apps");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.json(),
        json!({"name": "roost-u-abc123", "org_slug": "roost-org"})
    );
}

#[tokio::test]
async fn create_app_on_a_custom_network_sends_network() {
    let fly = FakeFly::start(|_| Reply::fixture(201, "app_create_response.json")).await;
    fly.client()
        .create_app("roost-u-abc123", Some("roost-u-abc123-net"))
        .await
        .unwrap();
    assert_eq!(
        fly.only_request().json(),
        json!({"name": "roost-u-abc123", "org_slug": "roost-org", "network": "roost-u-abc123-net"})
    );
}

#[tokio::test]
async fn get_app_parses_the_documented_answer() {
    let fly = FakeFly::start(|_| Reply::fixture(200, "app_get.json")).await;
    let app = fly.client().get_app("roost-u-abc123").await.unwrap();
    assert_eq!(app.name, "roost-u-abc123");
    assert_eq!(app.organization.unwrap().slug, "roost-org");
    assert_eq!(app.machine_count, Some(1));
    let request = fly.only_request();
    assert_eq!(
        (request.method.as_str(), request.uri().as_str()),
        ("GET", "/v1/apps/roost-u-abc123")
    );
    assert!(request.body.is_empty());
}

#[tokio::test]
async fn list_apps_queries_the_configured_org() {
    let fly = FakeFly::start(|_| Reply::fixture(200, "apps_list.json")).await;
    let apps = fly.client().list_apps().await.unwrap();
    let names: Vec<_> = apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["roost-u-abc123", "roost-u-def456"]);
    assert_eq!(fly.only_request().uri(), "/v1/apps?org_slug=roost-org");
}

#[tokio::test]
async fn delete_app_with_force() {
    let fly = FakeFly::start(|_| Reply::json(202, "")).await;
    fly.client()
        .delete_app("roost-u-abc123", true)
        .await
        .unwrap();
    let request = fly.only_request();
    assert_eq!(request.method, "DELETE");
    assert_eq!(request.uri(), "/v1/apps/roost-u-abc123?force=true");
}

#[tokio::test]
async fn find_app_by_name_tells_ours_free_and_taken_apart() {
    let fly = FakeFly::start(|r| match r.path.as_str() {
        "/v1/apps/ours" => Reply::fixture(200, "app_get.json"),
        "/v1/apps/elsewhere" => Reply::fixture(200, "app_get_other_org.json"),
        "/v1/apps/hidden" => Reply::json(403, r#"{"error":"unauthorized"}"#),
        _ => Reply::fixture(404, "error_not_found.json"),
    })
    .await;
    let client = fly.client();
    assert!(client.find_app_by_name("ours").await.unwrap().is_some());
    assert!(client.find_app_by_name("free").await.unwrap().is_none());
    let err = client.find_app_by_name("elsewhere").await.unwrap_err();
    assert_eq!(err.kind, FlyErrorKind::NameTaken);
    assert!(err.message.contains("someone-else"), "{err}");
    let err = client.find_app_by_name("hidden").await.unwrap_err();
    assert_eq!(err.kind, FlyErrorKind::NameTaken);
}

#[tokio::test]
async fn app_names_are_percent_encoded_in_paths() {
    let fly = FakeFly::start(|_| Reply::fixture(404, "error_not_found.json")).await;
    let _ = fly.client().get_app("a/b?c").await;
    assert_eq!(fly.only_request().uri(), "/v1/apps/a%2Fb%3Fc");
}
