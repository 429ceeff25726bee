//! The workspace's tools as plain async functions, with typed inputs and outputs.
//!
//! Each area is a cheap `Clone` handle the server holds in its state; the MCP `#[tool]` adapters
//! parse `Parameters<…Args>`, call one method here, and turn an `Err` into a
//! `CallToolResult::error` whose text is the error's `Display`. That text is read by the model,
//! so every error says what was wrong and what to do instead. Nothing here knows about MCP, which
//! keeps the tools unit-testable on their own.
//!
//! - [`files`]: the user's files, confined to `<data dir>/workspace` at the OS level (cap-std).
//! - [`command`]: run a shell command in that folder, with a clean environment, a timeout that
//!   kills the whole process group, and capped output.
//! - [`notes`]: remember / recall / forget short notes, searched with SQLite FTS5.

pub mod command;
pub mod files;
pub mod notes;
