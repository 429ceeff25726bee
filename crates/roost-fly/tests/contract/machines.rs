//! Machines (fly.md §2.3): create/update bodies, lifecycle paths, the lease nonce header, and
//! that documented answers (current and legacy) parse and survive a full-config round trip.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::fake_fly::{FakeFly, Reply, fixture_json};
use roost_fly::types::{
    Autostop, Concurrency, CreateMachineRequest, GuestConfig, HttpOptions, LeaseNonce,
    MachineCheck, MachineConfig, MachinePort, MachineService, MachineState, Mount, RestartConfig,
    RestartMachineRequest, RestartPolicy, StopConfig, StopMachineRequest, UpdateMachineRequest,
};
use roost_fly::{FlyDuration, ListMachines};

fn secs(s: u64) -> Option<FlyDuration> {
    Some(FlyDuration(Duration::from_secs(s)))
}

/// The tenant Machine roost creates, built the way the router builds it.
fn tenant_machine() -> CreateMachineRequest {
    let port = |port: u16, handlers: &[&str]| MachinePort {
        port: Some(port),
        handlers: handlers.iter().map(|h| (*h).to_owned()).collect(),
        ..MachinePort::default()
    };
    let mut https = port(443, &["tls", "http"]);
    https.http_options = Some(HttpOptions {
        idle_timeout: Some(600),
        ..HttpOptions::default()
    });
    let config = MachineConfig {
        image: "registry.fly.io/roost-workspace@sha256:0123456789abcdef".into(),
        env: BTreeMap::from([("ROOST_TENANT".into(), "t-abc123".into())]),
        guest: Some(GuestConfig {
            cpu_kind: Some("shared".into()),
            cpus: Some(1),
            memory_mb: Some(512),
            ..GuestConfig::default()
        }),
        services: vec![MachineService {
            protocol: Some("tcp".into()),
            internal_port: Some(8080),
            ports: vec![port(80, &["http"]), https],
            concurrency: Some(Concurrency {
                kind: Some("requests".into()),
                soft_limit: Some(20),
                hard_limit: Some(50),
            }),
            autostart: Some(true),
            autostop: Some(Autostop::Off),
            ..MachineService::default()
        }],
        checks: BTreeMap::from([(
            "alive".into(),
            MachineCheck {
                kind: Some("http".into()),
                port: Some(8080),
                interval: secs(15),
                timeout: secs(2),
                grace_period: secs(5),
                method: Some("GET".into()),
                path: Some("/healthz".into()),
                ..MachineCheck::default()
            },
        )]),
        mounts: vec![Mount {
            volume: "vol_abc123".into(),
            path: "/data".into(),
            ..Mount::default()
        }],
        restart: Some(RestartConfig {
            policy: Some(RestartPolicy::OnFailure),
            max_retries: Some(3),
        }),
        metadata: BTreeMap::from([("roost_tenant".into(), "t-abc123".into())]),
        stop_config: Some(StopConfig {
            signal: Some("SIGTERM".into()),
            timeout: secs(30),
        }),
        ..MachineConfig::default()
    };
    CreateMachineRequest {
        name: Some("workspace".into()),
        region: Some("iad".into()),
        config,
        ..CreateMachineRequest::default()
    }
}

#[tokio::test]
async fn create_machine_sends_the_documented_body() {
    let fly = FakeFly::start(|_| Reply::fixture(200, "machine.json")).await;
    let machine = fly
        .client()
        .create_machine("roost-u-abc123", &tenant_machine())
        .await
        .unwrap();
    assert_eq!(machine.id, "3d8d413b29d089");
    assert_eq!(machine.state, MachineState::Started);

    let request = fly.only_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.uri(), "/v1/apps/roost-u-abc123/machines");
    assert_eq!(request.json(), fixture_json("machine_create_request.json"));
    // The lease nonce header belongs only to calls made under a lease.
    assert_eq!(request.header("fly-machine-lease-nonce"), None);
}

#[tokio::test]
async fn create_flags_use_flys_names_and_are_omitted_when_unset() {
    let fly = FakeFly::start(|_| Reply::fixture(200, "machine.json")).await;
    let mut request = tenant_machine();
    request.skip_launch = true;
    request.lease_ttl = Some(30);
    request.min_secrets_version = Some(7);
    fly.client().create_machine("a", &request).await.unwrap();
    let body = fly.only_request().json();
    assert_eq!(body["skip_launch"], json!(true));
    assert_eq!(body["lease_ttl"], json!(30));
    assert_eq!(body["min_secrets_version"], json!(7));
    assert!(body.get("skip_service_registration").is_none());
}

#[tokio::test]
async fn a_documented_machine_parses_with_flys_field_names() {
    let fly = FakeFly::start(|_| Reply::fixture(200, "machine.json")).await;
    let machine = fly
        .client()
        .get_machine("roost-u-abc123", "3d8d413b29d089")
        .await
        .unwrap();
    assert_eq!(
        fly.only_request().uri(),
        "/v1/apps/roost-u-abc123/machines/3d8d413b29d089"
    );

    assert_eq!(machine.region, "iad");
    assert_eq!(machine.instance_id, "01HXYZINSTANCE");
    assert_eq!(machine.host_status.as_deref(), Some("ok"));
    assert_eq!(machine.metadata("roost_tenant"), Some("t-abc123"));
    assert_eq!(machine.events[0].kind, "start");
    let config = machine.config.as_ref().unwrap();
    let service = &config.services[0];
    assert_eq!(service.ports[1].handlers, ["tls", "http"]);
    assert_eq!(service.ports[0].force_https, Some(true));
    assert_eq!(service.autostart, Some(true));
    assert_eq!(service.autostop, Some(Autostop::Stop));
    assert_eq!(
        config.restart.as_ref().unwrap().policy,
        Some(RestartPolicy::OnFailure)
    );
    assert_eq!(config.mounts[0].volume, "vol_abc123");
    assert_eq!(config.guest.as_ref().unwrap().memory_mb, Some(512));
    assert_eq!(config.checks["alive"].interval, secs(15));
}

#[tokio::test]
async fn legacy_answers_parse() {
    let fly = FakeFly::start(|_| Reply::fixture(200, "machine_legacy_autostop.json")).await;
    let machine = fly
        .client()
        .get_machine("a", "148ed21a0d3908")
        .await
        .unwrap();
    let config = machine.config.unwrap();
    assert_eq!(config.services[0].autostop, Some(Autostop::Stop));
    assert_eq!(config.services[1].autostop, Some(Autostop::Off));
    assert_eq!(config.restart.unwrap().policy, Some(RestartPolicy::Always));
    assert_eq!(config.checks["tcp"].interval, secs(15));
    assert_eq!(machine.state, MachineState::Stopped);
}

#[tokio::test]
async fn update_sends_the_whole_config_back_including_fields_we_do_not_model() {
    let fly = FakeFly::start(|_| Reply::fixture(200, "machine.json")).await;
    let client = fly.client();
    let machine = client.get_machine("a", "3d8d413b29d089").await.unwrap();
    let mut config = machine.config.unwrap();
    config.image = "registry.fly.io/roost-workspace@sha256:feedface".into();
    let nonce = LeaseNonce("8d7a1c2f9e3b".into());
    client
        .update_machine(
            "a",
            "3d8d413b29d089",
            &UpdateMachineRequest::new(config),
            Some(&nonce),
        )
        .await
        .unwrap();

    let update = fly.requests().pop().unwrap();
    assert_eq!(update.method, "POST");
    assert_eq!(update.uri(), "/v1/apps/a/machines/3d8d413b29d089");
    assert_eq!(
        update.header("fly-machine-lease-nonce"),
        Some("8d7a1c2f9e3b")
    );
    let mut expected = fixture_json("machine.json")["config"].clone();
    expected["image"] = json!("registry.fly.io/roost-workspace@sha256:feedface");
    assert_eq!(update.json(), json!({ "config": expected }));
}

#[tokio::test]
async fn list_machines_sends_metadata_filters_and_include_deleted() {
    let fly = FakeFly::start(|_| {
        Reply::json(
            200,
            format!("[{}]", crate::fake_fly::fixture("machine.json")),
        )
    })
    .await;
    let filter = ListMachines {
        include_deleted: true,
        region: Some("iad".into()),
        ..ListMachines::default()
    }
    .metadata("roost_tenant", "t-abc123");
    let machines = fly.client().list_machines("a", &filter).await.unwrap();
    assert_eq!(machines.len(), 1);
    assert_eq!(
        fly.only_request().uri(),
        "/v1/apps/a/machines?include_deleted=true&region=iad&metadata.roost_tenant=t-abc123"
    );
}

#[tokio::test]
async fn find_machines_by_tag_checks_the_tag_and_skips_destroyed_machines() {
    let mut destroyed = fixture_json("machine.json");
    destroyed["id"] = json!("dead");
    destroyed["state"] = json!("destroyed");
    let mut other = fixture_json("machine.json");
    other["id"] = json!("other");
    other["config"]["metadata"]["roost_tenant"] = json!("t-zzz");
    let list = json!([fixture_json("machine.json"), destroyed, other]).to_string();
    let fly = FakeFly::start(move |_| Reply::json(200, list.clone())).await;
    let found = fly
        .client()
        .find_machines_by_tag("a", "roost_tenant", "t-abc123")
        .await
        .unwrap();
    let ids: Vec<_> = found.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["3d8d413b29d089"]);
    assert_eq!(
        fly.only_request().uri(),
        "/v1/apps/a/machines?metadata.roost_tenant=t-abc123"
    );
}

#[tokio::test]
async fn start_parses_both_documented_answers() {
    for (fixture, previous) in [
        ("machine_start_docs.json", "stopped"),
        ("machine_start_flygo.json", "suspended"),
    ] {
        let fly = FakeFly::start(move |_| Reply::fixture(200, fixture)).await;
        let started = fly.client().start_machine("a", "m1", None).await.unwrap();
        assert_eq!(started.previous_state.as_deref(), Some(previous));
        let request = fly.only_request();
        assert_eq!(
            (request.method.as_str(), request.uri().as_str()),
            ("POST", "/v1/apps/a/machines/m1/start")
        );
    }
}

#[tokio::test]
async fn stop_always_sends_a_json_object() {
    let fly = FakeFly::start(|_| Reply::json(200, r#"{"ok":true}"#)).await;
    let client = fly.client();
    client
        .stop_machine("a", "m1", &StopMachineRequest::default(), None)
        .await
        .unwrap();
    let request = StopMachineRequest {
        signal: Some("SIGTERM".into()),
        timeout: secs(10),
    };
    client
        .stop_machine("a", "m1", &request, None)
        .await
        .unwrap();
    let requests = fly.requests();
    assert_eq!(requests[0].uri(), "/v1/apps/a/machines/m1/stop");
    assert_eq!(requests[0].json(), json!({}));
    assert_eq!(
        requests[1].json(),
        json!({"signal": "SIGTERM", "timeout": "10s"})
    );
}

#[tokio::test]
async fn lifecycle_calls_use_the_documented_paths_and_carry_the_lease_nonce() {
    let fly = FakeFly::start(|_| Reply::json(200, r#"{"ok":true}"#)).await;
    let client = fly.client();
    let nonce = LeaseNonce("n0nce".into());
    let lease = Some(&nonce);
    client.suspend_machine("a", "m1", lease).await.unwrap();
    client
        .restart_machine(
            "a",
            "m1",
            &RestartMachineRequest {
                signal: Some("SIGINT".into()),
                timeout: secs(5),
                force_stop: true,
            },
            lease,
        )
        .await
        .unwrap();
    client
        .restart_machine("a", "m1", &RestartMachineRequest::default(), lease)
        .await
        .unwrap();
    client
        .destroy_machine("a", "m1", true, lease)
        .await
        .unwrap();
    client
        .destroy_machine("a", "m1", false, None)
        .await
        .unwrap();

    let seen: Vec<_> = fly
        .requests()
        .iter()
        .map(|r| {
            (
                r.method.clone(),
                r.uri(),
                r.header("fly-machine-lease-nonce").map(str::to_owned),
            )
        })
        .collect();
    let with = Some("n0nce".to_owned());
    assert_eq!(
        seen,
        [
            (
                "POST".into(),
                "/v1/apps/a/machines/m1/suspend".into(),
                with.clone()
            ),
            (
                "POST".into(),
                "/v1/apps/a/machines/m1/restart?signal=SIGINT&timeout=5s&force_stop=true".into(),
                with.clone()
            ),
            (
                "POST".into(),
                "/v1/apps/a/machines/m1/restart".into(),
                with.clone()
            ),
            (
                "DELETE".into(),
                "/v1/apps/a/machines/m1?force=true".into(),
                with
            ),
            ("DELETE".into(), "/v1/apps/a/machines/m1".into(), None),
        ]
    );
}
