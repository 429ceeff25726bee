//! Volumes (fly.md §2.4).

use crate::fake_fly::{FakeFly, Reply, fixture_json};
use roost_fly::types::CreateVolumeRequest;

#[tokio::test]
async fn create_volume_sends_the_documented_body() {
    let fly = FakeFly::start(|_| Reply::fixture(200, "volume.json")).await;
    let request = CreateVolumeRequest {
        name: "data".into(),
        region: "iad".into(),
        size_gb: Some(1),
        encrypted: Some(true),
        require_unique_zone: Some(false),
        ..CreateVolumeRequest::default()
    };
    let volume = fly.client().create_volume("a", &request).await.unwrap();
    assert_eq!(volume.id, "vol_abc123");
    assert_eq!(volume.zone.as_deref(), Some("c2a1"));
    assert_eq!(volume.attached_machine_id, None);
    let sent = fly.only_request();
    assert_eq!(
        (sent.method.as_str(), sent.uri().as_str()),
        ("POST", "/v1/apps/a/volumes")
    );
    assert_eq!(sent.json(), fixture_json("volume_create_request.json"));
}

#[tokio::test]
async fn get_list_and_delete_use_the_documented_paths() {
    let fly = FakeFly::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v1/apps/a/volumes") => Reply::fixture(200, "volumes_list.json"),
        _ => Reply::fixture(200, "volume.json"),
    })
    .await;
    let client = fly.client();
    assert_eq!(client.list_volumes("a").await.unwrap().len(), 3);
    assert_eq!(
        client.get_volume("a", "vol_abc123").await.unwrap().size_gb,
        1
    );
    client.delete_volume("a", "vol_abc123").await.unwrap();
    let seen: Vec<_> = fly
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.uri()))
        .collect();
    assert_eq!(
        seen,
        [
            "GET /v1/apps/a/volumes",
            "GET /v1/apps/a/volumes/vol_abc123",
            "DELETE /v1/apps/a/volumes/vol_abc123",
        ]
    );
}

#[tokio::test]
async fn find_volumes_by_name_skips_other_names_and_volumes_being_destroyed() {
    let fly = FakeFly::start(|_| Reply::fixture(200, "volumes_list.json")).await;
    let found = fly
        .client()
        .find_volumes_by_name("a", "data")
        .await
        .unwrap();
    let ids: Vec<_> = found.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["vol_abc123"]);
}
