#!/usr/bin/env bash
# Runs Ferry's whole test suite (unit, contract, crash and CLI tests). Benchmarks are separate: see BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# -T 2: modules that do not depend on each other (the store backends, the server, Spark) test side by side, two at a
# time on two cores. The suite is CPU-bound (docs/design-notes.md, "The test suite's time").
exec mvn -B -T 2 -Dstyle.color=never -ntp verify "$@"
