//! `roost admin` as an operator runs it: the real binary against a router started in this
//! process. Listing and showing tenants (table and `--json`), suspending and resuming a user
//! (the router's state changes), retrying a failed tenant, rolling the current template out to
//! every tenant's machine (against flylocal), the plain-word errors for a wrong token, a
//! missing router and a refused change, and `hash-password` producing a hash the router's
//! argon2 verifies.

use std::process::{Output, Stdio};

use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
use roost_router::tenants::{TenantState, tenant_id_for_user};
use roost_router::testing::{TestOptions, TestRouter};
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;

const ADMIN_TOKEN: &str = "0123456789abcdef0123456789abcdef";

async fn router() -> TestRouter {
    TestRouter::start(TestOptions::default().arg(format!("--admin-token={ADMIN_TOKEN}"))).await
}

/// `roost admin <args>` with no admin settings inherited from the person running the tests
/// (and no `roost dev` folder to fall back on), `stdin` piped in.
async fn roost_admin(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_roost"))
        .arg("admin")
        .args(args)
        .env_remove("ROOST_ADMIN_TOKEN")
        .env_remove("ROOST_ROUTER_URL")
        .env("ROOST_DEV_DIR", "/nonexistent/roost-admin-test")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the roost binary");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    child.wait_with_output().await.unwrap()
}

/// `roost admin tenants <args>` against `router` with the right token (from the environment,
/// as an operator sets it).
async fn tenants(router: &TestRouter, args: &[&str]) -> Output {
    let mut all = vec!["tenants"];
    all.extend_from_slice(args);
    roost_admin(
        &all,
        &[
            ("ROOST_ROUTER_URL", &router.url),
            ("ROOST_ADMIN_TOKEN", ADMIN_TOKEN),
        ],
        "",
    )
    .await
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "roost admin failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn failure(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "roost admin should have failed; stdout: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// A fully provisioned tenant for user `sub` (no Fly involved).
async fn ready_tenant(router: &TestRouter, sub: &str) -> String {
    roost_router::testing::seed_ready_tenant(&router.state, sub).await
}

async fn state_of(router: &TestRouter, id: &str) -> TenantState {
    router
        .state
        .tenants
        .store()
        .get(id)
        .await
        .unwrap()
        .unwrap()
        .state
}

#[tokio::test]
async fn an_operator_lists_shows_suspends_and_resumes_a_tenant() {
    let router = router().await;
    let id = ready_tenant(&router, "sam").await;

    let list: Value = serde_json::from_str(&stdout(&tenants(&router, &["list", "--json"]).await))
        .expect("--json prints JSON");
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["state"], "ready");
    assert_eq!(list[0]["machine_id"], "m1");

    let table = stdout(&tenants(&router, &["list"]).await);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("TENANT") && lines[0].contains("STATE"),
        "{table}"
    );
    assert!(
        lines[1].starts_with(&id) && lines[1].contains("ready") && lines[1].contains("m1"),
        "{table}"
    );
    let none = stdout(&tenants(&router, &["list", "--state", "failed"]).await);
    assert_eq!(none.trim(), "no tenants");

    let shown = stdout(&tenants(&router, &["show", &id]).await);
    assert!(
        shown.contains("state:") && shown.contains("ready"),
        "{shown}"
    );
    assert!(shown.contains("vol_1"), "{shown}");
    let shown: Value =
        serde_json::from_str(&stdout(&tenants(&router, &["show", &id, "--json"]).await)).unwrap();
    assert_eq!(shown["user_id"], "sam");

    let suspended = stdout(&tenants(&router, &["suspend", &id]).await);
    assert!(suspended.contains("suspended"), "{suspended}");
    assert_eq!(state_of(&router, &id).await, TenantState::Suspended);

    // A change that does not apply is refused in the router's words, with a failing exit.
    let twice = failure(&tenants(&router, &["suspend", &id]).await);
    assert!(
        twice.contains("the router refused") && twice.contains("only a `ready` tenant"),
        "{twice}"
    );

    let resumed: Value =
        serde_json::from_str(&stdout(&tenants(&router, &["resume", &id, "--json"]).await)).unwrap();
    assert_eq!(resumed["state"], "ready");
    assert_eq!(state_of(&router, &id).await, TenantState::Ready);

    let missing = failure(&tenants(&router, &["show", "roost-u-nobody"]).await);
    assert!(missing.contains("no tenant roost-u-nobody"), "{missing}");

    // Deleting destroys the user's files: it needs --yes, and nothing happens without it.
    let unconfirmed = failure(&tenants(&router, &["delete", &id]).await);
    assert!(unconfirmed.contains("--yes"), "{unconfirmed}");
    assert_eq!(state_of(&router, &id).await, TenantState::Ready);
    router.stop().await;
}

#[tokio::test]
async fn a_failed_tenant_is_shown_with_its_reason_and_retried() {
    let router = router().await;
    let store = router.state.tenants.store();
    let id = tenant_id_for_user(&router.state.settings.app_prefix, "fay");
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

    let table = stdout(&tenants(&router, &["list", "--state", "failed"]).await);
    assert!(
        table.contains(&id) && table.contains("create_app: 401 token lacks org scope"),
        "{table}"
    );
    let retried = stdout(&tenants(&router, &["retry", &id]).await);
    assert!(retried.contains("pending"), "{retried}");
    assert_ne!(state_of(&router, &id).await, TenantState::Failed);
    router.stop().await;
}

/// A flylocal whose workspace image is a sleeping process, so machines start and stay up.
async fn flylocal() -> (roost_flylocal::FlyLocal, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = roost_flylocal::Config::new(dir.path());
    config.region = "lcl".to_owned();
    let mut sleep = roost_flylocal::ImageSpec::new("/bin/sleep");
    sleep.args = vec!["3600".to_owned()];
    config
        .images
        .insert("registry.fly.io/roost-test:1".to_owned(), sleep);
    let listeners = roost_flylocal::Listeners {
        api: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        edge: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    (
        roost_flylocal::FlyLocal::start(listeners, config).unwrap(),
        dir,
    )
}

/// Provisions `sub`'s tenant the way a user does: an MCP request with a token.
async fn provision(router: &TestRouter, sub: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let settings = &router.state.settings;
    let token = router
        .key
        .sign(&roost_token::AccessClaims {
            iss: settings.issuer.clone(),
            aud: settings.mcp_url.clone(),
            sub: sub.to_owned(),
            tenant: tenant_id_for_user(&settings.app_prefix, sub),
            scope: "roost:workspace".to_owned(),
            client_id: "test".to_owned(),
            iat: now,
            nbf: now,
            exp: now + 600,
            jti: format!("provision-{sub}"),
        })
        .unwrap();
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(&router.mcp_url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 307, "{sub}'s tenant is ready");
}

#[tokio::test]
async fn a_rollout_updates_every_tenant_machine_and_running_it_again_changes_nothing() {
    let (fly, _fly_dir) = flylocal().await;
    let router = TestRouter::start(TestOptions {
        fly_api_url: fly.api_url(),
        ..TestOptions::default().arg(format!("--admin-token={ADMIN_TOKEN}"))
    })
    .await;
    for user in ["ann", "ben"] {
        provision(&router, user).await;
    }
    let env = [
        ("ROOST_ROUTER_URL", router.url.as_str()),
        ("ROOST_ADMIN_TOKEN", ADMIN_TOKEN),
    ];

    // Both already run the router's image: nothing to do.
    let output = stdout(&roost_admin(&["rollout"], &env, "").await);
    assert!(
        output.contains("0 updated, 2 already on the current image, 0 failed"),
        "{output}"
    );
    // Forced (a changed size or env in the template): both machines get the config again,
    // several at a time.
    let output = stdout(&roost_admin(&["rollout", "--force", "--parallel", "3"], &env, "").await);
    assert!(
        output.contains("2 updated, 0 already on the current image, 0 failed"),
        "{output}"
    );
    let ann = tenant_id_for_user(&router.state.settings.app_prefix, "ann");
    assert!(
        output.contains(&format!(
            "updated {ann}: registry.fly.io/roost-test:1 -> registry.fly.io/roost-test:1"
        )),
        "{output}"
    );

    // One tenant by hand, and one that has no machine.
    let output = stdout(&tenants(&router, &["update", &ann]).await);
    assert!(output.contains("already runs"), "{output}");
    let ghost = ready_tenant(&router, "ghost").await;
    let output = tenants(&router, &["update", &ghost, "--force"]).await;
    let error = failure(&output);
    assert!(error.contains("Fly did not do it"), "{error}");

    // Two tenants whose machines are gone: the rollout stops at the first, unless told not to.
    let other_ghost = ready_tenant(&router, "other-ghost").await;
    let output = roost_admin(&["rollout"], &env, "").await;
    let error = failure(&output);
    assert!(error.contains("1 tenants were not updated"), "{error}");
    let listed = String::from_utf8(output.stdout).unwrap();
    let first = std::cmp::min(&ghost, &other_ghost);
    assert!(listed.contains(&format!("not updated {first}")), "{listed}");
    assert!(
        listed.contains("1 failed") && listed.contains("not tried"),
        "{listed}"
    );
    let output = roost_admin(&["rollout", "--keep-going", "--parallel", "2"], &env, "").await;
    let error = failure(&output);
    assert!(error.contains("2 tenants were not updated"), "{error}");
    let listed = String::from_utf8(output.stdout).unwrap();
    assert!(
        listed.contains(&format!("not updated {ghost}"))
            && listed.contains(&format!("not updated {other_ghost}"))
            && !listed.contains("not tried"),
        "{listed}"
    );
    router.stop().await;
    fly.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_wrong_token_or_no_router_is_said_in_plain_words() {
    let router = router().await;
    let wrong = "w".repeat(32);
    let output = roost_admin(
        &[
            "tenants",
            "list",
            "--router",
            &router.url,
            "--admin-token",
            &wrong,
        ],
        &[],
        "",
    )
    .await;
    let error = failure(&output);
    assert!(
        error.contains("the admin token was refused: check ROOST_ADMIN_TOKEN"),
        "{error}"
    );
    assert!(
        !error.contains(&wrong),
        "the token is never printed: {error}"
    );

    let output = roost_admin(&["tenants", "list", "--router", &router.url], &[], "").await;
    let error = failure(&output);
    assert!(error.contains("no admin token"), "{error}");
    router.stop().await;

    // A router without the admin API, then no router at all.
    let without = TestRouter::start(TestOptions::default()).await;
    let output = roost_admin(
        &["tenants", "list", "--router", &without.url],
        &[("ROOST_ADMIN_TOKEN", ADMIN_TOKEN)],
        "",
    )
    .await;
    let error = failure(&output);
    assert!(error.contains("has no admin API"), "{error}");
    let url = without.url.clone();
    without.stop().await;

    let output = roost_admin(
        &["tenants", "list", "--router", &url],
        &[("ROOST_ADMIN_TOKEN", ADMIN_TOKEN)],
        "",
    )
    .await;
    let error = failure(&output);
    assert!(
        error.contains(&format!("no router at {url}: is it running?")),
        "{error}"
    );
}

#[tokio::test]
async fn hash_password_prints_an_argon2id_hash_of_the_piped_password() {
    let password = "correct horse battery staple";
    let output = roost_admin(&["hash-password"], &[], &format!("{password}\n")).await;
    let hash = stdout(&output);
    let hash = hash.trim();
    // The router's parameters (argon2's defaults), so its dummy verification costs the same.
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    let parsed = PasswordHash::new(hash).unwrap();
    let argon2 = argon2::Argon2::default();
    assert!(argon2.verify_password(password.as_bytes(), &parsed).is_ok());
    assert!(
        argon2
            .verify_password(format!("{password}\n").as_bytes(), &parsed)
            .is_err(),
        "the trailing newline is not part of the password"
    );

    let short = failure(&roost_admin(&["hash-password"], &[], "short\n").await);
    assert!(short.contains("at least 8 characters"), "{short}");
    let empty = failure(&roost_admin(&["hash-password"], &[], "").await);
    assert!(empty.contains("no password"), "{empty}");
}
