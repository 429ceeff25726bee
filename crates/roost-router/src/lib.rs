//! roost's router: tenants and provisioning, the fly-replay hot path, and (later) the OAuth
//! authorization server.
//!
//! Module map:
//! * [`config`]: flags and `ROOST_*` env, validated into `Settings`.
//! * [`db`]: the SQLite/PostgreSQL pool and migrations.
//! * [`tenants`]: the tenant state machine, its rows, and the cache the hot path reads.
//! * [`auth`]: bearer-token verification with the verdict cache.
//! * [`replay`]: the hot path, `/mcp` → `fly-replay`.
//! * [`provision`]: the reconciler that creates each tenant's app, volume and machine.
//! * [`proxy`]: forwarding of bodies too large to replay.
//! * [`admin`]: the tenant admin API for operators.
//! * [`discovery`], [`health`], [`metrics`]: the small endpoints.
//! * [`oauth`], [`signin`], [`pages`]: the OAuth 2.1 authorization server, browser sign-in,
//!   and the pages they render.
//! * [`server`]: the state, the merged routes, and [`server::run`].

pub mod admin;
pub mod auth;
pub mod config;
pub mod db;
pub mod discovery;
pub mod error;
pub mod health;
pub mod metrics;
pub mod oauth;
pub mod pages;
pub mod provision;
pub mod proxy;
pub mod replay;
pub mod server;
pub mod signin;
pub mod telemetry;
pub mod tenants;
#[cfg(feature = "testing")]
pub mod testing;

pub use server::{AppState, StartError, app, run};
