#!/usr/bin/env bash
# Runs Ferry's whole test suite (unit, contract, crash and CLI tests). Benchmarks are separate: see BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# -T 2: modules that do not depend on each other (the store backends, the server, Spark) test side by side; most of
# their tests wait on an engine (RPC, HTTP, DataNode pipelines, Cassandra), so two at a time keep both cores busy.
exec mvn -B -T 2 -Dstyle.color=never -ntp verify "$@"
