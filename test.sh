#!/usr/bin/env bash
# Runs Ferry's whole test suite (unit, contract, crash and CLI tests). Benchmarks are separate: see BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec mvn -B -Dstyle.color=never -ntp verify "$@"
