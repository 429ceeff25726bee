//! Tests of the whole token life cycle: mint, verify, refuse.
