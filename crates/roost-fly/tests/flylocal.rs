//! The client against `roost-flylocal`, the local Fly platform written independently from the
//! same documentation: a tenant's whole life (app → volume → Machine → started → stopped →
//! found by tag → destroyed), leases, and provisioning under injected ambiguous failures with
//! find-before-create, which must leave no duplicates.

use std::collections::BTreeMap;
use std::time::Duration;

use roost_fly::types::{
    CreateMachineRequest, CreateVolumeRequest, LeaseNonce, Machine, MachineConfig, MachinePort,
    MachineService, MachineState, Mount, RestartConfig, RestartPolicy, StopMachineRequest,
    UpdateMachineRequest,
};
use roost_fly::{FlyClient, FlyClientConfig, FlyError, FlyErrorKind};
use roost_flylocal::{Config, EndpointFaults, Faults, FlyLocal, ImageSpec, Listeners};

const IMAGE: &str = "registry.fly.io/roost-workspace:test";
const TAG: &str = "roost_tenant";

async fn start_flylocal(data_dir: &std::path::Path) -> FlyLocal {
    let mut config = Config::new(data_dir);
    config.org = "roost-org".into();
    // A machine is a local process: a long sleep stands in for the workspace.
    let mut sleep = ImageSpec::new("/bin/sleep");
    sleep.args = vec!["600".into()];
    config
        .images
        .insert("registry.fly.io/roost-workspace*".into(), sleep);
    let listeners = Listeners {
        api: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        edge: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    FlyLocal::start(listeners, config).unwrap()
}

/// The production client with its default (Fly's) rate limits and retries.
fn client_for(flylocal: &FlyLocal) -> FlyClient {
    let config = FlyClientConfig::new(
        flylocal.api_url().parse().unwrap(),
        "fm2_local",
        "roost-org",
    );
    FlyClient::new(config).unwrap()
}

fn tenant_config(tenant: &str, volume: &str) -> MachineConfig {
    MachineConfig {
        image: IMAGE.into(),
        env: BTreeMap::from([("ROOST_TENANT".into(), tenant.into())]),
        services: vec![MachineService {
            protocol: Some("tcp".into()),
            internal_port: Some(8080),
            ports: vec![MachinePort {
                port: Some(443),
                handlers: vec!["tls".into(), "http".into()],
                ..MachinePort::default()
            }],
            autostart: Some(true),
            ..MachineService::default()
        }],
        mounts: vec![Mount {
            volume: volume.into(),
            path: "/data".into(),
            ..Mount::default()
        }],
        restart: Some(RestartConfig {
            policy: Some(RestartPolicy::OnFailure),
            max_retries: Some(3),
        }),
        metadata: BTreeMap::from([(TAG.into(), tenant.into())]),
        ..MachineConfig::default()
    }
}

#[tokio::test]
async fn a_tenant_lives_and_dies_through_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let flylocal = start_flylocal(dir.path()).await;
    let client = client_for(&flylocal);
    let app = "roost-u-t1";

    client.create_app(app, None).await.unwrap();
    assert_eq!(
        client.find_app_by_name(app).await.unwrap().unwrap().name,
        app
    );
    let volume = client
        .create_volume(
            app,
            &CreateVolumeRequest {
                name: "data".into(),
                region: "lcl".into(),
                size_gb: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let request = CreateMachineRequest {
        region: Some("lcl".into()),
        config: tenant_config("t1", &volume.id),
        ..CreateMachineRequest::default()
    };
    let machine = client.create_machine(app, &request).await.unwrap();
    client
        .wait_for_state(
            app,
            &machine.id,
            &MachineState::Started,
            None,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let started = client.get_machine(app, &machine.id).await.unwrap();
    assert_eq!(started.state, MachineState::Started);
    // What we sent came back under Fly's names.
    let config = started.config.as_ref().unwrap();
    assert_eq!(config.mounts[0].volume, volume.id);
    assert_eq!(config.services[0].ports[0].handlers, ["tls", "http"]);
    assert_eq!(config.services[0].autostart, Some(true));

    client
        .stop_machine(
            app,
            &machine.id,
            &StopMachineRequest {
                signal: Some("SIGTERM".into()),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    client
        .wait_for_state(
            app,
            &machine.id,
            &MachineState::Stopped,
            Some(&started.instance_id),
            Duration::from_secs(30),
        )
        .await
        .unwrap();

    let found = client.find_machines_by_tag(app, TAG, "t1").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, machine.id);
    assert_eq!(found[0].state, MachineState::Stopped);
    assert!(
        client
            .find_machines_by_tag(app, TAG, "t2")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        client
            .find_volumes_by_name(app, "data")
            .await
            .unwrap()
            .len(),
        1
    );

    client.start_machine(app, &machine.id, None).await.unwrap();
    client
        .wait_for_state(
            app,
            &machine.id,
            &MachineState::Started,
            None,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    client
        .destroy_machine(app, &machine.id, true, None)
        .await
        .unwrap();
    let err = client.get_machine(app, "00000000000000").await.unwrap_err();
    assert!(err.is_not_found());
    client.delete_app(app, true).await.unwrap();
    assert!(client.find_app_by_name(app).await.unwrap().is_none());
    flylocal.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_lease_guards_a_full_config_update() {
    let dir = tempfile::tempdir().unwrap();
    let flylocal = start_flylocal(dir.path()).await;
    let client = client_for(&flylocal);
    let app = "roost-u-lease";
    client.create_app(app, None).await.unwrap();
    let volume = client
        .create_volume(
            app,
            &CreateVolumeRequest {
                name: "data".into(),
                region: "lcl".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let machine = client
        .create_machine(
            app,
            &CreateMachineRequest {
                config: tenant_config("t", &volume.id),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let lease = client
        .acquire_lease(app, &machine.id, Duration::from_secs(60), "rollout")
        .await
        .unwrap();
    let err = client
        .acquire_lease(app, &machine.id, Duration::from_secs(60), "second router")
        .await
        .unwrap_err();
    assert_eq!(err.kind, FlyErrorKind::LeaseHeld);

    let mut config = client
        .get_machine(app, &machine.id)
        .await
        .unwrap()
        .config
        .unwrap();
    config.env.insert("ROOST_VERSION".into(), "2".into());
    let update = UpdateMachineRequest::new(config);
    let refused = client
        .update_machine(app, &machine.id, &update, None)
        .await
        .unwrap_err();
    assert_eq!(refused.kind, FlyErrorKind::LeaseHeld, "{refused}");
    let wrong = LeaseNonce("not-the-nonce".into());
    assert!(
        client
            .update_machine(app, &machine.id, &update, Some(&wrong))
            .await
            .is_err()
    );
    let updated = client
        .update_machine(app, &machine.id, &update, Some(&lease.nonce))
        .await
        .unwrap();
    assert_eq!(updated.config.unwrap().env["ROOST_VERSION"], "2");

    let refreshed = client
        .refresh_lease(app, &machine.id, &lease.nonce, Duration::from_secs(120))
        .await
        .unwrap();
    assert!(refreshed.expires_at >= lease.expires_at);
    client
        .release_lease(app, &machine.id, &lease.nonce)
        .await
        .unwrap();
    assert_eq!(client.get_lease(app, &machine.id).await.unwrap(), None);
    flylocal.shutdown().await.unwrap();
}

/// Repeats `step` through ambiguous failures, looking with `find` before every attempt: the
/// router's find-before-create rule.
async fn find_or_create<T, F, C>(mut find: F, mut create: C) -> T
where
    F: AsyncFnMut() -> Result<Option<T>, FlyError>,
    C: AsyncFnMut() -> Result<T, FlyError>,
{
    for _ in 0..20 {
        if let Some(found) = find().await.unwrap() {
            return found;
        }
        match create().await {
            Ok(created) => return created,
            Err(err) if err.is_ambiguous() || err.kind == FlyErrorKind::Transient => continue,
            Err(err) => panic!("create failed: {err}"),
        }
    }
    panic!("still failing after 20 attempts");
}

#[tokio::test]
async fn ambiguous_creates_leave_no_duplicates_when_the_caller_finds_before_creating() {
    let dir = tempfile::tempdir().unwrap();
    let flylocal = start_flylocal(dir.path()).await;
    let ambiguous = EndpointFaults {
        ambiguous_rate: 0.3,
        ..EndpointFaults::default()
    };
    flylocal.set_faults(Faults {
        seed: 7,
        endpoints: ["app_create", "volume_create", "machine_create"]
            .into_iter()
            .map(|action| (action.to_owned(), ambiguous))
            .collect(),
        ..Faults::default()
    });
    let client = client_for(&flylocal);

    let tenants: Vec<String> = (0..5).map(|i| format!("t{i}")).collect();
    for tenant in &tenants {
        let app = format!("roost-u-{tenant}");
        let app = app.as_str();
        find_or_create(
            async || client.find_app_by_name(app).await.map(|a| a.map(drop)),
            async || client.create_app(app, None).await.map(drop),
        )
        .await;
        let volume = find_or_create(
            async || {
                Ok(client
                    .find_volumes_by_name(app, "data")
                    .await?
                    .into_iter()
                    .next())
            },
            async || {
                let request = CreateVolumeRequest {
                    name: "data".into(),
                    region: "lcl".into(),
                    ..Default::default()
                };
                client.create_volume(app, &request).await
            },
        )
        .await;
        let _machine: Machine = find_or_create(
            async || {
                Ok(client
                    .find_machines_by_tag(app, TAG, tenant)
                    .await?
                    .into_iter()
                    .next())
            },
            async || {
                let request = CreateMachineRequest {
                    config: tenant_config(tenant, &volume.id),
                    ..Default::default()
                };
                client.create_machine(app, &request).await
            },
        )
        .await;
    }

    let log = flylocal.request_log();
    let ambiguous_answers = log
        .iter()
        .filter(|r| r.action.ends_with("_create") && r.status >= 500)
        .count();
    assert!(
        ambiguous_answers > 0,
        "the faults fired (seeded), or this test proves nothing"
    );
    assert_eq!(
        log.iter().filter(|r| r.status == 429).count(),
        0,
        "paced: no 429"
    );

    let mut apps = flylocal.apps();
    apps.sort();
    assert_eq!(
        apps,
        tenants
            .iter()
            .map(|t| format!("roost-u-{t}"))
            .collect::<Vec<_>>()
    );
    for tenant in &tenants {
        let app = format!("roost-u-{tenant}");
        let machines: Vec<_> = flylocal
            .machines()
            .into_iter()
            .filter(|m| m.app == app)
            .collect();
        assert_eq!(machines.len(), 1, "exactly one Machine for {tenant}");
        assert_eq!(
            client.list_volumes(&app).await.unwrap().len(),
            1,
            "exactly one volume for {tenant}"
        );
    }
    flylocal.shutdown().await.unwrap();
}
