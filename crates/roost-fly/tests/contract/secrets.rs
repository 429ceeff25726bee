//! App secrets (fly.md §2.6).

use serde_json::json;

use crate::fake_fly::{FakeFly, Reply};

#[tokio::test]
async fn set_and_unset_post_values_with_null_for_removal() {
    let fly = FakeFly::start(|_| Reply::fixture(200, "secrets_update.json")).await;
    let client = fly.client();
    let version = client
        .set_secrets("a", &[("ROOST_SIGNING_KEY", "s3cr3t"), ("B", "2")])
        .await
        .unwrap();
    assert_eq!(version, 7);
    client.unset_secrets("a", &["OLD"]).await.unwrap();
    let requests = fly.requests();
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].uri(), "/v1/apps/a/secrets");
    assert_eq!(
        requests[0].json(),
        json!({"values": {"ROOST_SIGNING_KEY": "s3cr3t", "B": "2"}})
    );
    assert_eq!(requests[1].json(), json!({"values": {"OLD": null}}));
}

#[tokio::test]
async fn list_returns_names_and_digests() {
    let fly = FakeFly::start(|_| Reply::fixture(200, "secrets_list.json")).await;
    let secrets = fly.client().list_secrets("a").await.unwrap();
    let names: Vec<_> = secrets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["ROOST_SIGNING_KEY", "UPSTREAM_TOKEN"]);
    assert_eq!(secrets[0].digest.as_deref(), Some("a1b2c3d4"));
    assert_eq!(fly.only_request().uri(), "/v1/apps/a/secrets");
}
