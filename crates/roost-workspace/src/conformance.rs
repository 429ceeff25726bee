//! Fixtures for the official MCP conformance suite (feature `conformance`, never in production).
