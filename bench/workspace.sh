#!/usr/bin/env bash
# roost-workspace vs @modelcontextprotocol/server-everything (streamableHttp), one run, the
# tenant image's build (`--profile tenant`): start → first tools/list, idle RSS, tools/call throughput on one connection.
# Knobs: BENCH_RUNS (process starts per server, default 20), BENCH_CALLS (default 2000).
# Needs the npm packages in tests/js (`npm ci` there). Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d tests/js/node_modules/@modelcontextprotocol/server-everything ] ||
  (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
# The binary measured is the one the tenant image ships: the size-tuned `tenant` profile.
cargo build --locked --profile tenant -p roost-workspace --bin roost-workspace
ROOST_BENCH_WORKSPACE_BIN="${CARGO_TARGET_DIR:-target}/tenant/roost-workspace" \
  cargo bench --locked -p roost-workspace --bench workspace
