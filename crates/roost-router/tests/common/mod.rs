//! Helpers shared by the OAuth integration tests. (`common/mod.rs` rather than `common.rs`:
//! cargo would build a top-level `tests/common.rs` as a test target of its own.)

pub mod oauth;
