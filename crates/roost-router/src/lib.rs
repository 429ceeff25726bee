//! roost's router: tenants and provisioning, the fly-replay hot path, and (later) the OAuth
//! authorization server.
//!
//! Module map: [`config`] (flags and `ROOST_*` env), [`db`] (SQLite/PostgreSQL pool and
//! migrations), [`tenants`] (the tenant state machine and its rows).

pub mod config;
pub mod db;
pub mod telemetry;
pub mod tenants;
