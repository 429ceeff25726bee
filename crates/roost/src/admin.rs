//! `roost admin`: the operator's command line.
//!
//! * `roost admin tenants list|show|retry|suspend|resume|update|delete`: a thin client of the
//!   router's admin API (`/admin/v1/tenants…`, bearer `ROOST_ADMIN_TOKEN`), with a compact
//!   table for people and `--json` (the API's own JSON) for scripts ([`client`]).
//! * `roost admin rollout`: every tenant's machine to the router's current template, one at a
//!   time, with progress ([`rollout`]).
//! * `roost admin hash-password`: the argon2id hash a local account's `password_hash` takes
//!   ([`password`]).
//!
//! Against `roost dev` nothing needs setting: the router URL defaults to the one `roost dev`
//! serves, and on a loopback router without a token the token `roost dev` keeps in its folder
//! (`.roost/admin-token`, or `$ROOST_DEV_DIR/admin-token`) is used.

mod client;
mod password;
mod rollout;

use std::path::PathBuf;

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::Value;

use self::client::AdminClient;

/// The router `roost dev` serves (its edge, default port).
const DEFAULT_ROUTER: &str = "http://127.0.0.1:8080";

/// The file in the development folder holding `roost dev`'s admin token.
pub const DEV_TOKEN_FILE: &str = "admin-token";

/// `roost admin` options.
#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AdminCommand {
    /// See and manage tenants (one per user: a Fly app with a machine and a volume).
    Tenants(TenantsArgs),
    /// Update every `ready` and `suspended` tenant's machine to the router's current template
    /// (after a new workspace image), one at a time, stopping at the first failure. Tenants
    /// already on its image are skipped, so running it again finishes the rollout.
    Rollout(RolloutArgs),
    /// Print the argon2id hash of a password read from stdin (typed without echo, or piped),
    /// for a local account's `password_hash` in the router's config file.
    HashPassword,
}

#[derive(Debug, clap::Args)]
struct TenantsArgs {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: TenantsCommand,
}

#[derive(Debug, clap::Args)]
struct RolloutArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// Update tenants already on the template's image too (a changed size or env).
    #[arg(long)]
    force: bool,
    /// Go on past a tenant that fails (default: stop there, so a broken image reaches one
    /// user, not all).
    #[arg(long)]
    keep_going: bool,
    /// Updates at once. Each waits for its machine to restart (about 20 s on Fly), so several
    /// at once shorten a large rollout; a failure stops it after the ones in flight.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    parallel: u16,
}

/// Where the admin API is and how to get in.
#[derive(Debug, clap::Args)]
struct ApiArgs {
    /// The router's public URL, e.g. `https://mcp.example.com` (the MCP URL works too).
    #[arg(long = "router", env = "ROOST_ROUTER_URL", default_value = DEFAULT_ROUTER, global = true)]
    router: String,

    /// The router's admin token (its `ROOST_ADMIN_TOKEN`). Default on a loopback router: the
    /// one `roost dev` keeps in `.roost/admin-token`.
    #[arg(long, env = "ROOST_ADMIN_TOKEN", hide_env_values = true, global = true)]
    admin_token: Option<String>,

    /// Print the admin API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum TenantsCommand {
    /// List tenants, newest first (at most 1000).
    List {
        /// Only tenants in this state: pending, app_created, volume_created, machine_created,
        /// ready, suspended, failed, deleting, deleted.
        #[arg(long)]
        state: Option<String>,
    },
    /// Show one tenant: its state, Fly ids, and why it last failed.
    Show {
        /// The tenant id (`roost-u-…`).
        id: String,
    },
    /// Retry a `failed` tenant from the step it failed in.
    Retry {
        /// The tenant id.
        id: String,
    },
    /// Suspend a `ready` tenant: its user's requests are refused with 403 until resumed.
    Suspend {
        /// The tenant id.
        id: String,
    },
    /// Resume a `suspended` tenant.
    Resume {
        /// The tenant id.
        id: String,
    },
    /// Update a tenant's machine to the router's current template (a new workspace image): a
    /// running machine reboots into it, a stopped one boots it on its user's next request.
    Update {
        /// The tenant id.
        id: String,
        /// Update even if the tenant already runs the template's image (a changed size or env).
        #[arg(long)]
        force: bool,
    },
    /// Delete a tenant's Fly app, machine and volume: the user's files are gone for good.
    Delete {
        /// The tenant id.
        id: String,
        /// Confirm the deletion (required).
        #[arg(long)]
        yes: bool,
    },
}

/// Runs `roost admin …`.
pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    match args.command {
        AdminCommand::HashPassword => Ok(password::run().await?),
        AdminCommand::Tenants(args) => tenants(args).await,
        AdminCommand::Rollout(args) => rollout(args).await,
    }
}

async fn rollout(args: RolloutArgs) -> anyhow::Result<()> {
    let options = rollout::Options {
        force: args.force,
        keep_going: args.keep_going,
        report: !args.api.json,
        parallel: usize::from(args.parallel),
    };
    let summary = rollout::run(&client(&args.api)?, options).await?;
    if args.api.json {
        println!("{}", serde_json::to_string_pretty(&summary.to_json())?);
    } else {
        println!("{}", summary.line());
    }
    if !summary.failed.is_empty() {
        anyhow::bail!(
            "{} tenants were not updated (each is listed above with why); fix the cause and run \
             `roost admin rollout` again",
            summary.failed.len()
        );
    }
    Ok(())
}

/// The admin API client `api` describes (on a loopback router without a token, with the one
/// `roost dev` keeps).
fn client(api: &ApiArgs) -> anyhow::Result<AdminClient> {
    let token = match &api.admin_token {
        Some(token) => Some(token.clone()),
        None => dev_token(&api.router)?,
    };
    Ok(AdminClient::new(&api.router, token.as_deref())?)
}

async fn tenants(args: TenantsArgs) -> anyhow::Result<()> {
    let TenantsArgs { api, command } = args;
    if let TenantsCommand::Delete { id, yes: false } = &command {
        anyhow::bail!(
            "deleting tenant {id} deletes its Fly app, machine and volume (the user's files); \
             pass --yes to confirm"
        );
    }
    let client = client(&api)?;
    let answer = match &command {
        TenantsCommand::List { state } => client.list(state.as_deref()).await?,
        TenantsCommand::Show { id } => client.show(id).await?,
        TenantsCommand::Retry { id } => client.act(id, "retry").await?,
        TenantsCommand::Suspend { id } => client.act(id, "suspend").await?,
        TenantsCommand::Resume { id } => client.act(id, "resume").await?,
        TenantsCommand::Update { id, force } => client.update(id, *force).await?,
        TenantsCommand::Delete { id, .. } => client.delete(id).await?,
    };
    if api.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    let text = match command {
        TenantsCommand::List { .. } => {
            let tenants: Vec<TenantView> =
                serde_json::from_value(answer).context("reading the tenant list")?;
            tenant_table(&tenants)
        }
        TenantsCommand::Show { .. } => tenant_details(&view(answer)?),
        TenantsCommand::Retry { .. } => {
            let tenant = view(answer)?;
            format!(
                "tenant {} is `{}` again: provisioning resumed",
                tenant.id, tenant.state
            )
        }
        TenantsCommand::Suspend { .. } | TenantsCommand::Resume { .. } => {
            let tenant = view(answer)?;
            format!("tenant {} is now `{}`", tenant.id, tenant.state)
        }
        TenantsCommand::Update { id, .. } => {
            if answer["updated"] == true {
                format!(
                    "tenant {id}'s machine now runs {} (was {})",
                    answer["tenant"]["image"].as_str().unwrap_or("?"),
                    answer["previous_image"].as_str().unwrap_or("?")
                )
            } else {
                format!(
                    "tenant {id} already runs {}; nothing to do (--force updates it anyway)",
                    answer["tenant"]["image"].as_str().unwrap_or("?")
                )
            }
        }
        TenantsCommand::Delete { .. } => {
            let tenant = view(answer)?;
            match tenant.state.as_str() {
                "deleted" => format!("tenant {} is deleted", tenant.id),
                state => format!(
                    "tenant {} is `{state}`: its Fly app is being deleted (`roost admin tenants \
                     show {}` follows it)",
                    tenant.id, tenant.id
                ),
            }
        }
    };
    println!("{text}");
    Ok(())
}

/// `roost dev`'s admin token, when `router` is on loopback and the development folder has one.
fn dev_token(router: &str) -> anyhow::Result<Option<String>> {
    let loopback = url::Url::parse(router).is_ok_and(|url| match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    });
    if !loopback {
        return Ok(None);
    }
    let dir = std::env::var_os("ROOST_DEV_DIR").map_or_else(|| PathBuf::from(".roost"), Into::into);
    let path = dir.join(DEV_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(token) => Ok(Some(token.trim().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// A tenant as the admin API writes it (`roost_router::tenants::Tenant`), the fields shown.
#[derive(Debug, Deserialize)]
struct TenantView {
    id: String,
    state: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    resume_state: Option<String>,
    #[serde(default)]
    app_name: Option<String>,
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    volume_id: Option<String>,
    #[serde(default)]
    machine_id: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    last_error: Option<String>,
    #[serde(default)]
    attempts: i64,
    #[serde(default)]
    lease_owner: Option<String>,
    #[serde(default)]
    lease_expires_at: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    ready_at: Option<String>,
}

fn view(answer: Value) -> anyhow::Result<TenantView> {
    serde_json::from_value(answer).context("reading the tenant")
}

/// One line per tenant, columns padded to their widest cell; the last error, if any, last.
fn tenant_table(tenants: &[TenantView]) -> String {
    if tenants.is_empty() {
        return "no tenants".to_owned();
    }
    let header = [
        "TENANT", "STATE", "APP", "MACHINE", "REGION", "UPDATED", "ERROR",
    ];
    let rows: Vec<[String; 7]> = tenants
        .iter()
        .map(|t| {
            [
                t.id.clone(),
                t.state.clone(),
                dash(&t.app_name),
                dash(&t.machine_id),
                dash(&t.region),
                t.updated_at.as_deref().map_or("-".to_owned(), short_time),
                t.last_error
                    .as_deref()
                    .map_or(String::new(), |e| truncate(e, 60)),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 7]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 < cells.len() {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            } else {
                out.push_str(cell);
            }
        }
        out.trim_end().to_owned()
    };
    let mut lines = vec![line(header)];
    lines.extend(
        rows.iter()
            .map(|row| line(row.each_ref().map(String::as_str))),
    );
    lines.join("\n")
}

/// Every field of one tenant, one per line.
fn tenant_details(t: &TenantView) -> String {
    let fields = [
        ("tenant", t.id.clone()),
        ("state", t.state.clone()),
        ("resume state", dash(&t.resume_state)),
        ("user", dash(&t.user_id)),
        ("app", dash(&t.app_name)),
        ("app id", dash(&t.app_id)),
        ("volume", dash(&t.volume_id)),
        ("machine", dash(&t.machine_id)),
        ("region", dash(&t.region)),
        ("image", dash(&t.image)),
        ("last error", dash(&t.last_error)),
        ("attempts", t.attempts.to_string()),
        ("lease owner", dash(&t.lease_owner)),
        ("lease until", dash(&t.lease_expires_at)),
        ("created", dash(&t.created_at)),
        ("updated", dash(&t.updated_at)),
        ("ready since", dash(&t.ready_at)),
    ];
    // The widest name and its colon.
    let width = fields
        .iter()
        .map(|(name, _)| name.len() + 1)
        .max()
        .unwrap_or(0);
    fields
        .iter()
        .map(|(name, value)| format!("{:<width$}  {value}", format!("{name}:")))
        .collect::<Vec<_>>()
        .join("\n")
}

fn dash(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".to_owned())
}

/// `2026-11-23T20:27:02.123456Z` → `2026-11-23 20:27:02`.
fn short_time(rfc3339: &str) -> String {
    rfc3339.get(..19).unwrap_or(rfc3339).replacen('T', " ", 1)
}

fn truncate(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut cut: String = one_line.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str, state: &str, error: Option<&str>) -> TenantView {
        serde_json::from_value(serde_json::json!({
            "id": id, "state": state, "app_name": id, "machine_id": null, "region": "lcl",
            "last_error": error, "attempts": 0, "updated_at": "2026-11-23T20:27:02.123Z",
        }))
        .unwrap()
    }

    #[test]
    fn the_table_lines_up_and_shows_why_a_tenant_failed() {
        let table = tenant_table(&[
            tenant("roost-u-aaaaaaaaaaaa", "ready", None),
            tenant(
                "roost-u-b",
                "failed",
                Some("create_app: 401 token lacks org scope"),
            ),
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(
            lines[0].starts_with("TENANT                STATE   APP"),
            "{table}"
        );
        assert!(
            lines[1].starts_with("roost-u-aaaaaaaaaaaa  ready   roost-u-aaaaaaaaaaaa"),
            "{table}"
        );
        assert!(lines[1].contains("2026-11-23 20:27:02"), "{table}");
        assert!(lines[2].ends_with("create_app: 401 token lacks org scope"));
        assert_eq!(tenant_table(&[]), "no tenants");
    }

    #[test]
    fn details_show_every_field_with_a_dash_for_none() {
        let text = tenant_details(&tenant("roost-u-b", "failed", Some("boom")));
        assert!(text.contains("state:         failed"), "{text}");
        assert!(text.contains("machine:       -"), "{text}");
        assert!(text.contains("last error:    boom"), "{text}");
    }

    #[test]
    fn long_errors_are_cut_to_one_short_line() {
        assert_eq!(truncate("a\nb", 10), "a b");
        assert_eq!(truncate(&"x".repeat(70), 60).chars().count(), 60);
    }
}
