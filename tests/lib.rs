//! Shared helpers for roost's end-to-end tests (the tests themselves live in `tests/*.rs`).
//!
//! [`node`] runs the real MCP clients (the official TypeScript SDKs installed in `tests/js`),
//! the test OpenID provider and the browser driver. The whole-stack harness is in
//! `support/stack.rs`, shared by the end-to-end test files (`mod support;`), so crates that
//! only need [`node`] do not compile the router.

pub mod node;
