//! Contract tests: every request the client sends is checked against the shape documented in
//! `shared/reference/fly.md` §2 (exact method, path, query, headers, JSON field names), and
//! every documented answer parses. Fixtures are hand-written from the docs (`fixtures/`).

#[path = "support/fake_fly.rs"]
mod fake_fly;

mod contract {
    mod apps;
    mod auth;
    mod errors;
    mod leases;
    mod machines;
    mod observability;
    mod secrets;
    mod volumes;
    mod wait;
}
