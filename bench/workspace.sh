#!/usr/bin/env bash
# roost-workspace vs @modelcontextprotocol/server-everything (streamableHttp), one run, release
# build: start → first tools/list, idle RSS, tools/call throughput on one connection.
# Knobs: BENCH_RUNS (process starts per server, default 20), BENCH_CALLS (default 2000).
# Needs the npm packages in tests/js (`npm ci` there). Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d tests/js/node_modules/@modelcontextprotocol/server-everything ] ||
  (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
cargo bench --locked -p roost-workspace --bench workspace
