//! Typed client for the Fly.io Machines REST API and the fly-replay protocol.
