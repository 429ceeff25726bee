//! Tests of run_command against a real /bin/sh.
