//! Shared helpers for roost's end-to-end tests (the tests themselves live in `tests/*.rs`).
//!
//! [`node`] runs the real MCP clients (the official TypeScript SDKs installed in `tests/js`).

pub mod node;
