use super::*;

const REPO_TEMPLATE: &str = include_str!("../../../../../fly.user.toml");

fn env() -> TenantEnv<'static> {
    TenantEnv {
        tenant: "roost-u-abc",
        issuer: "https://mcp.example.com",
        audience: "https://mcp.example.com/mcp",
        jwks_url: "https://mcp.example.com/.well-known/jwks.json",
        token_keys: "{\"keys\":[]}",
    }
}

#[test]
fn the_shipped_template_gives_machines_roost_can_route_to_and_wake() {
    let template = MachineTemplate::parse(REPO_TEMPLATE, "fly.user.toml", None).unwrap();
    assert_eq!(template.primary_region.as_deref(), Some("iad"));
    assert_eq!(template.volume_name, "data");
    assert_eq!(template.volume_size_gb, 1);

    let config = template.machine_config("vol_123", &env());
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(json["image"], "registry.fly.io/roost-workspace:latest");
    let service = &json["services"][0];
    assert_eq!(service["internal_port"], 8080);
    assert_eq!(service["autostart"], true);
    assert_eq!(service["autostop"], "off");
    assert_eq!(
        service["ports"][0],
        serde_json::json!({"port": 80, "handlers": ["http"]})
    );
    assert_eq!(
        service["ports"][1],
        serde_json::json!({"port": 443, "handlers": ["tls", "http"]})
    );
    assert_eq!(service["checks"][0]["path"], "/livez");
    assert_eq!(service["checks"][0]["grace_period"], "10s");
    assert_eq!(json["restart"]["policy"], "on-failure");
    assert_eq!(
        json["mounts"][0],
        serde_json::json!({"volume": "vol_123", "path": "/data"})
    );
    assert_eq!(json["metadata"][TENANT_TAG], "roost-u-abc");
    assert_eq!(json["guest"]["memory_mb"], 512);
    assert_eq!(json["stop_config"]["signal"], "SIGTERM");
    let env = &json["env"];
    assert_eq!(env["ROOST_TENANT"], "roost-u-abc");
    assert_eq!(env["ROOST_AUDIENCE"], "https://mcp.example.com/mcp");
    assert_eq!(
        env["ROOST_JWKS_URL"],
        "https://mcp.example.com/.well-known/jwks.json"
    );
    assert_eq!(env["ROOST_IDLE_TIMEOUT"], "10m", "template env is kept");
    assert_eq!(env["PORT"], "8080");
}

#[test]
fn the_image_override_wins() {
    let template = MachineTemplate::parse(REPO_TEMPLATE, "t", Some("img@sha256:1")).unwrap();
    assert_eq!(template.machine_config("v", &env()).image, "img@sha256:1");
}

#[test]
fn settings_that_would_strand_or_never_stop_a_tenant_are_refused() {
    let cases = [
        (
            "auto_start_machines = true",
            "auto_start_machines = false",
            "auto_start_machines",
        ),
        (
            "auto_stop_machines = \"off\"",
            "auto_stop_machines = \"stop\"",
            "auto_stop_machines",
        ),
        ("policy = \"on-failure\"", "policy = \"always\"", "policy"),
        (
            "image = \"registry.fly.io/roost-workspace:latest\"",
            "",
            "[build] image",
        ),
        (
            "source = \"data\"",
            "source = \"my-data\"",
            "[mounts] source",
        ),
    ];
    for (from, to, key) in cases {
        let text = REPO_TEMPLATE.replace(from, to);
        assert_ne!(text, REPO_TEMPLATE, "{from}");
        let err = MachineTemplate::parse(&text, "fly.user.toml", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(key) && err.contains("fly.user.toml"),
            "{key}: {err}"
        );
    }
}

#[test]
fn a_missing_file_names_the_variable() {
    let err = MachineTemplate::load(Path::new("/nonexistent/fly.user.toml"), None).unwrap_err();
    assert!(err.to_string().contains("ROOST_USER_TEMPLATE"), "{err}");
}
