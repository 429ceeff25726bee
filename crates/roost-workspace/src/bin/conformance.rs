//! The conformance build of the workspace server (fixtures for the official MCP suite).
fn main() {}
