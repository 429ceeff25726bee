//! roost's router: OAuth authorization server, tenants and provisioning, fly-replay routing.
