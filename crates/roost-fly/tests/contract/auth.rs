//! The `Authorization` header forms (fly.md §2.1).

use crate::fake_fly::{FakeFly, Reply};
use roost_fly::FlyClient;

async fn header_sent_for(token: &str) -> String {
    let fly = FakeFly::start(|_| Reply::fixture(200, "app_get.json")).await;
    let mut config = fly.config();
    config.token = token.to_owned();
    FlyClient::new(config)
        .unwrap()
        .get_app("roost-u-abc123")
        .await
        .unwrap();
    fly.only_request()
        .header("authorization")
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn macaroon_tokens_are_sent_with_the_flyv1_scheme() {
    assert_eq!(
        header_sent_for("fm2_lJPE,fm2_abc").await,
        "FlyV1 fm2_lJPE,fm2_abc"
    );
    assert_eq!(header_sent_for("fm1r_xyz").await, "FlyV1 fm1r_xyz");
}

#[tokio::test]
async fn other_tokens_are_sent_as_bearer() {
    assert_eq!(header_sent_for("plain-token").await, "Bearer plain-token");
}

#[tokio::test]
async fn a_pasted_scheme_is_sent_verbatim() {
    assert_eq!(header_sent_for("FlyV1 fm2_abc").await, "FlyV1 fm2_abc");
    assert_eq!(header_sent_for("Bearer plain").await, "Bearer plain");
}

#[tokio::test]
async fn an_empty_token_is_refused_before_any_request() {
    let fly = FakeFly::start(|_| Reply::fixture(200, "app_get.json")).await;
    let mut config = fly.config();
    config.token = String::new();
    let err = FlyClient::new(config).unwrap_err();
    assert!(err.to_string().contains("token is empty"), "{err}");
    assert!(fly.requests().is_empty());
}

#[tokio::test]
async fn user_agent_is_sent() {
    let fly = FakeFly::start(|_| Reply::fixture(200, "app_get.json")).await;
    fly.client().get_app("a").await.unwrap();
    let ua = fly.only_request().header("user-agent").unwrap().to_owned();
    assert!(ua.starts_with("roost-fly/"), "{ua}");
}
