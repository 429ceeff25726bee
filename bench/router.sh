#!/usr/bin/env bash
# The router's replay decision vs a bare axum handler, one run, release build, with wrk.
# Knobs: BENCH_SECONDS (per run, default 10), BENCH_CONNECTIONS (default 32), BENCH_THREADS
# (wrk threads, default 1). Results: docs/benchmarks.md ("Router").
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk (Debian package)…" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
cargo bench --locked -p roost-router --bench replay
