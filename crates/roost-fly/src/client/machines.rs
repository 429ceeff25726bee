//! Machines: create, get, list, update, start, stop, suspend, restart, wait, destroy, and the
//! look-up by tag after an ambiguous create (fly.md §2.3).

use std::time::Duration;

use http::Method;
use tokio::time::Instant;

use super::{Call, FlyClient};
use crate::error::{Endpoint, FlyError, FlyErrorKind};
use crate::types::{
    CreateMachineRequest, LeaseNonce, Machine, MachineState, RestartMachineRequest,
    StartMachineResponse, StopMachineRequest, UpdateMachineRequest,
};

/// The wait endpoint's server-side cap, in seconds (fly.md §2.3: default 60, max 60).
const WAIT_CAP_SECS: u64 = 60;

/// Filters of `GET /v1/apps/{app}/machines`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListMachines {
    /// Also list destroyed Machines (`include_deleted=true`).
    pub include_deleted: bool,
    /// Only this region.
    pub region: Option<String>,
    /// Only this state.
    pub state: Option<String>,
    /// Only Machines whose `config.metadata` has every `key = value` pair
    /// (`metadata.<key>=<value>`).
    pub metadata: Vec<(String, String)>,
}

impl ListMachines {
    /// Adds a `metadata.<key>=<value>` filter.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }
}

impl FlyClient {
    /// `POST /v1/apps/{app}/machines`: creates (and, unless `skip_launch`, boots) a Machine.
    ///
    /// Never retried after a timeout or 5xx ([`FlyError::is_ambiguous`]): the Machine may
    /// exist. Put a unique tag in `config.metadata` and call
    /// [`FlyClient::find_machines_by_tag`] before creating again.
    /// [`FlyErrorKind::InsufficientCapacity`]: try later or another region.
    pub async fn create_machine(
        &self,
        app: &str,
        request: &CreateMachineRequest,
    ) -> Result<Machine, FlyError> {
        let url = self.url(&["apps", app, "machines"]);
        let call = Call::new(Endpoint::MachineCreate, Method::POST, url)
            .app(app)
            .body(request)?;
        self.json(call).await
    }

    /// `GET /v1/apps/{app}/machines/{id}`.
    pub async fn get_machine(&self, app: &str, id: &str) -> Result<Machine, FlyError> {
        let url = self.url(&["apps", app, "machines", id]);
        let call = Call::new(Endpoint::MachineGet, Method::GET, url).machine(app, id);
        self.json(call).await
    }

    /// `GET /v1/apps/{app}/machines` with `filter`. Fly serves lists from an eventually
    /// consistent store (fly.md §2.7): a Machine created a moment ago may be missing.
    pub async fn list_machines(
        &self,
        app: &str,
        filter: &ListMachines,
    ) -> Result<Vec<Machine>, FlyError> {
        let mut url = self.url(&["apps", app, "machines"]);
        {
            let mut query = url.query_pairs_mut();
            if filter.include_deleted {
                query.append_pair("include_deleted", "true");
            }
            if let Some(region) = &filter.region {
                query.append_pair("region", region);
            }
            if let Some(state) = &filter.state {
                query.append_pair("state", state);
            }
            for (key, value) in &filter.metadata {
                query.append_pair(&format!("metadata.{key}"), value);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let call = Call::new(Endpoint::MachineList, Method::GET, url).app(app);
        self.json(call).await
    }

    /// The live (not destroyed) Machines of `app` tagged `metadata.<key> = <value>`: the
    /// look-up after an ambiguous [`FlyClient::create_machine`]. Filters on the server and
    /// checks the tag again here.
    ///
    /// Lists are eventually consistent: right after an ambiguous create, an empty answer is not
    /// proof. Wait a second or two and ask again before creating anew.
    pub async fn find_machines_by_tag(
        &self,
        app: &str,
        key: &str,
        value: &str,
    ) -> Result<Vec<Machine>, FlyError> {
        let filter = ListMachines::default().metadata(key, value);
        let machines = self.list_machines(app, &filter).await?;
        Ok(machines
            .into_iter()
            .filter(|m| m.metadata(key) == Some(value))
            .filter(|m| !matches!(m.state, MachineState::Destroyed | MachineState::Destroying))
            .collect())
    }

    /// `POST /v1/apps/{app}/machines/{id}`: replaces the Machine's **whole** config (a running
    /// Machine reboots). Start from [`FlyClient::get_machine`]'s config: omitted parts are
    /// removed. Pass the lease nonce when a lease is held (an update without it fails).
    /// Not retried after a timeout or 5xx: get the Machine and compare its config.
    pub async fn update_machine(
        &self,
        app: &str,
        id: &str,
        request: &UpdateMachineRequest,
        lease: Option<&LeaseNonce>,
    ) -> Result<Machine, FlyError> {
        let url = self.url(&["apps", app, "machines", id]);
        let call = Call::new(Endpoint::MachineUpdate, Method::POST, url)
            .machine(app, id)
            .lease(lease)
            .body(request)?;
        self.json(call).await
    }

    /// `POST …/{id}/start`. Starting a started Machine is harmless, so this is retried.
    /// [`FlyErrorKind::Precondition`] (412): the Machine is in a state that cannot start
    /// (e.g. `replacing`); try again shortly.
    pub async fn start_machine(
        &self,
        app: &str,
        id: &str,
        lease: Option<&LeaseNonce>,
    ) -> Result<StartMachineResponse, FlyError> {
        let url = self.url(&["apps", app, "machines", id, "start"]);
        let call = Call::new(Endpoint::MachineStart, Method::POST, url)
            .machine(app, id)
            .lease(lease);
        self.json(call).await
    }

    /// `POST …/{id}/stop` with `{"signal", "timeout"}` (always a JSON object). Stopping a
    /// suspended Machine throws its snapshot away.
    pub async fn stop_machine(
        &self,
        app: &str,
        id: &str,
        request: &StopMachineRequest,
        lease: Option<&LeaseNonce>,
    ) -> Result<(), FlyError> {
        let url = self.url(&["apps", app, "machines", id, "stop"]);
        let call = Call::new(Endpoint::MachineStop, Method::POST, url)
            .machine(app, id)
            .lease(lease)
            .body(request)?;
        self.send(call).await
    }

    /// `POST …/{id}/suspend` (no body).
    pub async fn suspend_machine(
        &self,
        app: &str,
        id: &str,
        lease: Option<&LeaseNonce>,
    ) -> Result<(), FlyError> {
        let url = self.url(&["apps", app, "machines", id, "suspend"]);
        let call = Call::new(Endpoint::MachineSuspend, Method::POST, url)
            .machine(app, id)
            .lease(lease);
        self.send(call).await
    }

    /// `POST …/{id}/restart?signal=…&timeout=…&force_stop=true`. Not retried after a timeout
    /// or 5xx (a second restart would interrupt the Machine again).
    pub async fn restart_machine(
        &self,
        app: &str,
        id: &str,
        request: &RestartMachineRequest,
        lease: Option<&LeaseNonce>,
    ) -> Result<(), FlyError> {
        let mut url = self.url(&["apps", app, "machines", id, "restart"]);
        {
            let mut query = url.query_pairs_mut();
            if let Some(signal) = &request.signal {
                query.append_pair("signal", signal);
            }
            if let Some(timeout) = request.timeout {
                query.append_pair("timeout", &timeout.to_string());
            }
            if request.force_stop {
                query.append_pair("force_stop", "true");
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let call = Call::new(Endpoint::MachineRestart, Method::POST, url)
            .machine(app, id)
            .lease(lease);
        self.send(call).await
    }

    /// Waits until the Machine reaches `state`, or `deadline` passes
    /// ([`FlyErrorKind::WaitTimedOut`]).
    ///
    /// Loops over `GET …/{id}/wait?state=<state>&timeout=<s>`, whose server-side wait is capped
    /// at 60 s and answers 408 when it passes (fly.md §2.3). `instance_id` (the Machine's
    /// [`Machine::instance_id`]) pins the wait to one version of the Machine; older Fly versions
    /// require it to wait for `stopped`.
    pub async fn wait_for_state(
        &self,
        app: &str,
        id: &str,
        state: &MachineState,
        instance_id: Option<&str>,
        deadline: Duration,
    ) -> Result<(), FlyError> {
        let until = Instant::now() + deadline;
        loop {
            let remaining = until.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(FlyError::new(
                    Endpoint::MachineWait,
                    FlyErrorKind::WaitTimedOut,
                    format!(
                        "machine {id} of app {app} did not reach state {state} within {deadline:?}"
                    ),
                ));
            }
            // Round up: a deadline of 20 s asks Fly for 20 s, not 19 s and change.
            let secs = u64::try_from(remaining.as_millis().div_ceil(1000))
                .unwrap_or(WAIT_CAP_SECS)
                .clamp(1, WAIT_CAP_SECS);
            let mut url = self.url(&["apps", app, "machines", id, "wait"]);
            {
                let mut query = url.query_pairs_mut();
                query
                    .append_pair("state", state.as_str())
                    .append_pair("timeout", &secs.to_string());
                if let Some(instance_id) = instance_id {
                    query.append_pair("instance_id", instance_id);
                }
            }
            let mut call = Call::new(Endpoint::MachineWait, Method::GET, url).machine(app, id);
            call.extra_timeout = Duration::from_secs(secs);
            match self.send(call).await {
                Ok(()) => return Ok(()),
                Err(err) if err.status == Some(408) => continue,
                Err(err) => return Err(err),
            }
        }
    }

    /// `DELETE /v1/apps/{app}/machines/{id}`, with `?force=true` to stop a running Machine
    /// first (fly.md §2.3 CONFLICT: the docs and OpenAPI say `force`, fly-go sends `kill`; we
    /// follow the docs). [`FlyErrorKind::NotFound`] means it is already gone.
    pub async fn destroy_machine(
        &self,
        app: &str,
        id: &str,
        force: bool,
        lease: Option<&LeaseNonce>,
    ) -> Result<(), FlyError> {
        let mut url = self.url(&["apps", app, "machines", id]);
        if force {
            url.query_pairs_mut().append_pair("force", "true");
        }
        let call = Call::new(Endpoint::MachineDestroy, Method::DELETE, url)
            .machine(app, id)
            .lease(lease);
        self.send(call).await
    }
}
