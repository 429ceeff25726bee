//! The per-user MCP server that runs on every tenant's Fly Machine.
