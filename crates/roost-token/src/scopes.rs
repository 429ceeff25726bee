//! The OAuth scopes a roost access token can carry.
//!
//! Scopes are the contract between the router (which grants them at consent) and the workspace
//! (which checks them per request), so both sides name them through these constants.

/// Use the workspace: files, notes, resources, prompts.
pub const WORKSPACE: &str = "roost:workspace";

/// Run shell commands in the workspace (withheld unless granted).
pub const RUN: &str = "roost:run";

/// Every scope roost knows, in the order a consent screen should list them.
pub const ALL: [&str; 2] = [WORKSPACE, RUN];
