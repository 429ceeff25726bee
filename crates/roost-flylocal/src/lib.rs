//! The local Fly platform: Machines API subset and an edge proxy honouring fly-replay.
