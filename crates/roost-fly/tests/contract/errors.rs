//! Fly's error bodies and status codes become typed errors (fly.md §2.7).

use crate::fake_fly::{FakeFly, Reply};
use roost_fly::FlyErrorKind;
use roost_fly::types::CreateMachineRequest;

#[tokio::test]
async fn unauthorized_keeps_flys_message_and_request_id() {
    let fly = FakeFly::start(|_| Reply::fixture(401, "error_unauthorized.json")).await;
    let err = fly.client().get_app("a").await.unwrap_err();
    assert_eq!(err.kind, FlyErrorKind::Unauthorized);
    assert_eq!(err.status, Some(401));
    assert_eq!(err.message, "Authenticate: token validation error");
    assert_eq!(err.request_id.as_deref(), Some("01TESTREQUESTID"));
    assert_eq!(err.endpoint, "apps.get");
    // Errors never echo the token.
    assert!(!format!("{err} {err:?}").contains("fm2_testtoken"));
}

#[tokio::test]
async fn a_taken_app_name_is_name_taken_in_both_body_forms() {
    for (status, fixture) in [
        (422, "error_name_taken.json"),
        (422, "error_name_taken_legacy.json"),
        (403, "error_name_taken_legacy.json"),
    ] {
        let fly = FakeFly::start(move |_| Reply::fixture(status, fixture)).await;
        let err = fly.client().create_app("taken", None).await.unwrap_err();
        assert_eq!(err.kind, FlyErrorKind::NameTaken, "{status} {fixture}");
        assert!(!err.is_ambiguous());
    }
}

#[tokio::test]
async fn capacity_precondition_and_not_found_are_told_apart() {
    let fly = FakeFly::start(|r| match r.path.as_str() {
        "/v1/apps/a/machines" => Reply::fixture(422, "error_capacity.json"),
        "/v1/apps/a/machines/m1/start" => Reply::fixture(412, "error_precondition.json"),
        _ => Reply::fixture(404, "error_not_found.json"),
    })
    .await;
    let client = fly.client();
    let err = client
        .create_machine("a", &CreateMachineRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, FlyErrorKind::InsufficientCapacity);
    let err = client.start_machine("a", "m1", None).await.unwrap_err();
    assert_eq!(err.kind, FlyErrorKind::Precondition);
    assert!(err.message.contains("replacing"));
    let err = client.get_machine("a", "gone").await.unwrap_err();
    assert!(err.is_not_found());
}

#[tokio::test]
async fn an_answer_that_is_not_the_documented_json_is_reported_as_such() {
    let fly = FakeFly::start(|_| Reply::json(200, "<html>maintenance</html>")).await;
    let err = fly.client().get_machine("a", "m1").await.unwrap_err();
    assert_eq!(err.kind, FlyErrorKind::Other);
    assert!(err.message.contains("not the documented JSON"), "{err}");
}
