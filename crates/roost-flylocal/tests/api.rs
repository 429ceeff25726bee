//! The Machines API's shapes, status codes and error bodies, as a plain HTTP client sees them.

#[path = "support/harness.rs"]
mod harness;

use harness::{Harness, echo_config};
use reqwest::{Method, StatusCode};
use roost_flylocal::{EndpointFaults, Faults};
use serde_json::json;

#[tokio::test]
async fn api_requires_a_token_and_tags_every_answer_with_a_request_id() {
    let h = Harness::start_with(|c| c.api_token = Some("fm2_secret".into())).await;
    let url = format!("{}/v1/apps?org_slug=personal", h.fly.api_url());

    let missing = h.client.get(&url).send().await.expect("reachable");
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(missing.headers().contains_key("fly-request-id"));
    let body: serde_json::Value = missing.json().await.expect("json");
    assert_eq!(body["error"], "Authenticate: token validation error");

    let wrong = h
        .client
        .get(&url)
        .header("authorization", "Bearer nope")
        .send()
        .await
        .expect("reachable");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    for scheme in [
        "FlyV1 fm2_secret",
        "Bearer fm2_secret",
        "Bearer FlyV1 fm2_secret",
    ] {
        let ok = h
            .client
            .get(&url)
            .header("authorization", scheme)
            .send()
            .await
            .expect("reachable");
        assert_eq!(ok.status(), StatusCode::OK, "{scheme} should be accepted");
    }
}

#[tokio::test]
async fn apps_create_get_list_delete_with_fly_status_codes() {
    let h = Harness::start_with(|c| {
        c.foreign_apps.insert("someone-elses".into());
    })
    .await;
    // The docs' older spelling `app_name` is accepted too.
    let created = h
        .post(
            "/v1/apps",
            json!({"app_name": "roost-u-1", "org_slug": "personal"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert!(created.body["id"].is_string() && created.body["created_at"].is_u64());
    assert!(created.headers.contains_key("fly-request-id"));

    let taken = h
        .post(
            "/v1/apps",
            json!({"name": "roost-u-1", "org_slug": "personal"}),
        )
        .await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(taken.body["status"], "name_taken");
    let foreign = h
        .post(
            "/v1/apps",
            json!({"name": "someone-elses", "org_slug": "personal"}),
        )
        .await;
    assert_eq!(foreign.body["status"], "name_taken");
    assert_eq!(
        h.get("/v1/apps/someone-elses").await.status,
        StatusCode::FORBIDDEN
    );

    let wrong_org = h
        .post(
            "/v1/apps",
            json!({"name": "roost-u-2", "org_slug": "other"}),
        )
        .await;
    assert_eq!(wrong_org.status, StatusCode::NOT_FOUND);

    let app = h.get("/v1/apps/roost-u-1").await;
    assert_eq!(app.status, StatusCode::OK);
    assert_eq!(app.body["name"], "roost-u-1");
    assert_eq!(app.body["organization"]["slug"], "personal");
    assert_eq!(app.body["machine_count"], 0);

    let list = h.get("/v1/apps?org_slug=personal").await;
    assert_eq!(list.body["total_apps"], 1);
    assert_eq!(list.body["apps"][0]["name"], "roost-u-1");

    let missing = h.get("/v1/apps/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["error"], "app not found");

    assert_eq!(
        h.call(Method::DELETE, "/v1/apps/roost-u-1", None)
            .await
            .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        h.get("/v1/apps/roost-u-1").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn machines_list_filters_update_and_wait() {
    let h = Harness::start().await;
    h.create_app("app-a").await;
    let mut tagged = echo_config(true);
    tagged["metadata"] = json!({"roost_tenant": "t1"});
    let a = h.create_machine("app-a", tagged).await;
    let b = h.create_machine("app-a", echo_config(true)).await;
    h.wait_state("app-a", &a, "started").await;
    h.wait_state("app-a", &b, "started").await;

    let filtered = h
        .get("/v1/apps/app-a/machines?metadata.roost_tenant=t1")
        .await;
    let ids: Vec<&str> = filtered
        .body
        .as_array()
        .expect("array")
        .iter()
        .map(|m| m["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, vec![a.as_str()]);

    // Update replaces the whole config and gives a new instance_id; the machine reboots.
    let before = h.machine("app-a", &a).await;
    let mut config = echo_config(true);
    config["env"] = json!({"GREETING": "hi"});
    let updated = h
        .post(
            &format!("/v1/apps/app-a/machines/{a}"),
            json!({"config": config}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.body);
    assert_ne!(updated.body["instance_id"], before["instance_id"]);
    assert!(
        updated.body["config"].get("metadata").is_none(),
        "update must not merge old fields"
    );
    assert_eq!(updated.body["config"]["env"]["GREETING"], "hi");
    h.wait_state("app-a", &a, "started").await;

    // wait: 408 on timeout, 400 past Fly's 60 s cap.
    let timeout = h
        .get(&format!(
            "/v1/apps/app-a/machines/{a}/wait?state=stopped&timeout=1"
        ))
        .await;
    assert_eq!(timeout.status, StatusCode::REQUEST_TIMEOUT);
    assert!(
        timeout.body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("did not reach")
    );
    let too_long = h
        .get(&format!(
            "/v1/apps/app-a/machines/{a}/wait?state=stopped&timeout=61"
        ))
        .await;
    assert_eq!(too_long.status, StatusCode::BAD_REQUEST);

    // destroy: 412 while started, then force; gone from the list unless include_deleted.
    let refused = h
        .call(
            Method::DELETE,
            &format!("/v1/apps/app-a/machines/{b}"),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED);
    let forced = h
        .call(
            Method::DELETE,
            &format!("/v1/apps/app-a/machines/{b}?force=true"),
            None,
        )
        .await;
    assert_eq!(forced.status, StatusCode::OK);
    h.wait_state("app-a", &b, "destroyed").await;
    let live = h.get("/v1/apps/app-a/machines").await.body;
    assert_eq!(live.as_array().map(Vec::len), Some(1));
    let all = h
        .get("/v1/apps/app-a/machines?include_deleted=true")
        .await
        .body;
    assert_eq!(all.as_array().map(Vec::len), Some(2));

    let missing = h.get("/v1/apps/app-a/machines/0000000000").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["error"], "machine not found");
}

#[tokio::test]
async fn leases_block_other_callers_with_409() {
    let h = Harness::start().await;
    h.create_app("leased").await;
    let mut config = echo_config(true);
    config["services"] = json!([]);
    let answer = h
        .post(
            "/v1/apps/leased/machines",
            json!({"config": config, "skip_launch": true}),
        )
        .await;
    assert_eq!(answer.body["state"], "created");
    let id = answer.body["id"].as_str().expect("id").to_owned();

    let lease = h
        .post(
            &format!("/v1/apps/leased/machines/{id}/lease"),
            json!({"ttl": 30}),
        )
        .await;
    assert_eq!(lease.status, StatusCode::CREATED);
    assert_eq!(lease.body["status"], "success");
    let nonce = lease.body["data"]["nonce"]
        .as_str()
        .expect("nonce")
        .to_owned();

    let second = h
        .post(
            &format!("/v1/apps/leased/machines/{id}/lease"),
            json!({"ttl": 30}),
        )
        .await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    let start_without = h
        .post(&format!("/v1/apps/leased/machines/{id}/start"), json!({}))
        .await;
    assert_eq!(start_without.status, StatusCode::CONFLICT);
    assert!(start_without.body["error"].is_string());

    let url = format!("{}/v1/apps/leased/machines/{id}/start", h.fly.api_url());
    let with_nonce = h
        .client
        .post(&url)
        .header("authorization", "Bearer t")
        .header("fly-machine-lease-nonce", &nonce)
        .send()
        .await
        .expect("reachable");
    assert_eq!(with_nonce.status(), StatusCode::OK);
    let body: serde_json::Value = with_nonce.json().await.expect("json");
    assert_eq!(body["previous_state"], "created");

    let release_url = format!("{}/v1/apps/leased/machines/{id}/lease", h.fly.api_url());
    let released = h
        .client
        .delete(&release_url)
        .header("authorization", "Bearer t")
        .header("fly-machine-lease-nonce", &nonce)
        .send()
        .await
        .expect("reachable");
    assert_eq!(released.status(), StatusCode::OK);
    assert_eq!(
        h.get(&format!("/v1/apps/leased/machines/{id}/lease"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn volumes_and_secrets_round_trip() {
    let h = Harness::start().await;
    h.create_app("vols").await;
    let created = h
        .post(
            "/v1/apps/vols/volumes",
            json!({"name": "data", "region": "iad", "size_gb": 1}),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK);
    let id = created.body["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("vol_"));
    assert_eq!(
        created.body["region"], "lcl",
        "the actual region is reported"
    );
    assert_eq!(created.body["size_gb"], 1);
    assert_eq!(
        h.get("/v1/apps/vols/volumes").await.body[0]["id"],
        id.as_str()
    );
    assert_eq!(
        h.get(&format!("/v1/apps/vols/volumes/{id}")).await.body["name"],
        "data"
    );
    let deleted = h
        .call(Method::DELETE, &format!("/v1/apps/vols/volumes/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    let gone = h.get(&format!("/v1/apps/vols/volumes/{id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.body["error"], "volume not found");

    let set = h
        .post(
            "/v1/apps/vols/secrets",
            json!({"values": {"API_KEY": "s3cret", "OTHER": "x"}}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK);
    assert_eq!(set.body["version"], 1);
    let listed = h.get("/v1/apps/vols/secrets").await.body;
    assert_eq!(listed["secrets"].as_array().map(Vec::len), Some(2));
    assert!(
        listed["secrets"][0].get("value").is_none(),
        "values stay hidden by default"
    );
    let unset = h
        .post("/v1/apps/vols/secrets", json!({"values": {"OTHER": null}}))
        .await;
    assert_eq!(unset.body["secrets"].as_array().map(Vec::len), Some(1));
    let one = h
        .post("/v1/apps/vols/secrets/TOKEN", json!({"value": "v"}))
        .await;
    assert_eq!(one.status, StatusCode::CREATED);
    assert_eq!(
        h.call(Method::DELETE, "/v1/apps/vols/secrets/TOKEN", None)
            .await
            .body["version"],
        4
    );
    let reserved = h
        .post("/v1/apps/vols/secrets", json!({"values": {"FLY_X": "v"}}))
        .await;
    assert_eq!(reserved.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_burst_over_flys_limits_gets_429() {
    let h = Harness::start_with(|c| c.rate_limits = true).await;
    let started = std::time::Instant::now();
    let calls = (0..8).map(|i| {
        h.post(
            "/v1/apps",
            json!({"name": format!("burst-{i}"), "org_slug": "personal"}),
        )
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|a| a.status)
        .collect();
    let elapsed = started.elapsed().as_secs();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    // 1/s with bursts of 3 (fly.md §2.7): three pass at once, one more per elapsed second.
    assert_eq!(created + throttled, 8, "{statuses:?}");
    assert!(
        created >= 3 && created <= 3 + usize::try_from(elapsed).unwrap_or(8),
        "{statuses:?} in {elapsed}s"
    );
    let answer = h
        .post(
            "/v1/apps",
            json!({"name": "one-more", "org_slug": "personal"}),
        )
        .await;
    if answer.status == StatusCode::TOO_MANY_REQUESTS {
        assert!(
            answer.body["error"]
                .as_str()
                .unwrap_or_default()
                .contains("rate limit")
        );
    }
}

#[tokio::test]
async fn ambiguous_create_fails_for_the_client_but_the_machine_exists() {
    let h = Harness::start().await;
    h.create_app("amb").await;
    // Faults set over HTTP, as a test in another process would.
    let mut faults = Faults {
        seed: 3,
        ..Faults::default()
    };
    faults.endpoints.insert(
        "machine_create".into(),
        EndpointFaults {
            ambiguous_rate: 1.0,
            ..Default::default()
        },
    );
    let url = format!("{}/flylocal/v1/faults", h.fly.api_url());
    let put = h
        .client
        .put(&url)
        .json(&faults)
        .send()
        .await
        .expect("reachable");
    assert_eq!(put.status(), StatusCode::OK);

    let mut config = echo_config(true);
    config["metadata"] = json!({"roost_tenant": "t9"});
    let answer = h
        .post("/v1/apps/amb/machines", json!({"config": config}))
        .await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    let found = h
        .get("/v1/apps/amb/machines?metadata.roost_tenant=t9")
        .await
        .body;
    assert_eq!(
        found.as_array().map(Vec::len),
        Some(1),
        "the create took effect despite the 500"
    );

    // A plain error takes no effect.
    faults.endpoints.insert(
        "app_create".into(),
        EndpointFaults {
            error_rate: 1.0,
            ..Default::default()
        },
    );
    h.fly.set_faults(faults);
    let failed = h
        .post("/v1/apps", json!({"name": "never", "org_slug": "personal"}))
        .await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    h.fly.set_faults(Faults::default());
    assert_eq!(h.get("/v1/apps/never").await.status, StatusCode::NOT_FOUND);

    let log = h.fly.request_log();
    let actions: Vec<&str> = log.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "app_create",
            "machine_create",
            "machine_list",
            "app_create",
            "app_get"
        ]
    );
    assert_eq!(log[1].status, 500);
}

#[tokio::test]
async fn unknown_image_is_refused_at_create() {
    let h = Harness::start().await;
    h.create_app("img").await;
    let answer = h
        .post(
            "/v1/apps/img/machines",
            json!({"config": {"image": "docker.io/nginx"}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer.body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("docker.io/nginx")
    );
}
