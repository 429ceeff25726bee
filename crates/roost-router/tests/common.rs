//! Helpers shared by the OAuth integration tests.

pub mod oauth;
