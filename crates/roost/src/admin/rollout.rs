//! `roost admin rollout`: brings every tenant's machine to the router's current
//! template (after the workspace image or `fly.user.toml` changed), one tenant at a time or
//! `--parallel N` at once.
//!
//! The router does each update (`POST /admin/v1/tenants/{id}/update`, under a Fly lease and
//! paced by its Fly client's rate limits); this command pages through the `ready` and
//! `suspended` tenants in id order and reports as it goes. Tenants already on the template's
//! image are skipped, so an interrupted or partly failed rollout is finished by running it
//! again. It stops at the first failure unless told to keep going: a new image that does not
//! boot should break one user's workspace, not every one in turn.

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::client::AdminClient;

/// The tenant states that have a machine to update.
const STATES: [&str; 2] = ["ready", "suspended"];

/// What a rollout did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Tenants whose machine config was replaced.
    pub updated: usize,
    /// Tenants already on the template's image.
    pub current: usize,
    /// Tenants that were not updated, with the reason.
    pub failed: Vec<(String, String)>,
    /// Tenants not tried because the rollout stopped at a failure.
    pub not_tried: usize,
}

impl Summary {
    /// The summary for scripts (`--json`).
    pub fn to_json(&self) -> Value {
        let failed: Vec<Value> = self
            .failed
            .iter()
            .map(|(id, error)| serde_json::json!({ "id": id, "error": error }))
            .collect();
        serde_json::json!({
            "updated": self.updated,
            "current": self.current,
            "failed": failed,
            "not_tried": self.not_tried,
        })
    }

    /// One line for the operator.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{} updated, {} already on the current image, {} failed",
            self.updated,
            self.current,
            self.failed.len()
        );
        if self.not_tried > 0 {
            line.push_str(&format!(
                ", {} not tried (stopped at the failure; --keep-going goes on past failures)",
                self.not_tried
            ));
        }
        line
    }
}

/// How a rollout runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Update tenants already on the template's image too.
    pub force: bool,
    /// Go on after a tenant fails instead of stopping.
    pub keep_going: bool,
    /// Print a line per tenant updated or failed as it goes.
    pub report: bool,
    /// Updates in flight at once (at least 1). Each waits for its machine to restart, so a
    /// few in parallel go much faster; the router still paces its Fly calls.
    pub parallel: usize,
}

/// Updates every tenant with a machine, as `options` say.
pub async fn run(client: &AdminClient, options: Options) -> anyhow::Result<Summary> {
    let ids = tenants_with_machines(client).await?;
    let bar = ProgressBar::new(ids.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{pos}/{len} [{wide_bar}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let say = |line: String| {
        // `suspend`, not `println`: the line must show when the bar is hidden (no terminal,
        // as in a CI job's log).
        if options.report {
            bar.suspend(|| println!("{line}"));
        }
    };
    let mut summary = Summary::default();
    let mut waiting = ids.into_iter();
    let mut running = FuturesUnordered::new();
    let mut stopping = false;
    loop {
        while !stopping && running.len() < options.parallel.max(1) {
            let Some(id) = waiting.next() else { break };
            bar.set_message(id.clone());
            running.push(async move {
                let result = client.update(&id, options.force).await;
                (id, result)
            });
        }
        let Some((id, result)) = running.next().await else {
            break;
        };
        match result {
            Ok(answer) if answer["updated"] == true => {
                summary.updated += 1;
                say(format!(
                    "updated {id}: {} -> {}",
                    image(&answer["previous_image"]),
                    image(&answer["tenant"]["image"])
                ));
            }
            Ok(_) => summary.current += 1,
            Err(e) => {
                say(format!("not updated {id}: {e}"));
                summary.failed.push((id, e.to_string()));
                // Updates already in flight finish; no new one starts.
                stopping = !options.keep_going;
            }
        }
        bar.inc(1);
    }
    summary.not_tried = waiting.count();
    bar.finish_and_clear();
    Ok(summary)
}

/// Every `ready` or `suspended` tenant's id, a page at a time.
async fn tenants_with_machines(client: &AdminClient) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for state in STATES {
        let mut after = String::new();
        loop {
            let page = client.list_after(Some(state), &after).await?;
            let page_ids: Vec<String> = page
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["id"].as_str().map(str::to_owned))
                .collect();
            let Some(last) = page_ids.last() else { break };
            after = last.clone();
            ids.extend(page_ids);
        }
    }
    Ok(ids)
}

fn image(value: &Value) -> &str {
    value.as_str().unwrap_or("(unknown)")
}
