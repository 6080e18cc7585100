#!/usr/bin/env bash
# Runs Ferry's whole test suite (unit, contract, engine, crash, CLI and client tests). Benchmarks are separate: see
# BENCHMARKS.md. Extra arguments go to every Maven call (e.g. -Dferry.test.parallel=false).
#
# First every module is built and installed once without its tests; then the modules' tests run in two lanes side by
# side, each lane one module at a time. A module's tests need only the jars of the modules it depends on, not their
# tests, so the CLI's and the cross-store tests need not wait for every backend's tests as they would in one Maven
# reactor. The lanes are balanced by the modules' test times on a quiet 2-core machine (docs/design-notes.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

mvn=(mvn -B -Dstyle.color=never -ntp)
"${mvn[@]}" -q install -DskipTests "$@"

lane_a=(ferry-hdfs ferry-core ferry-cassandra ferry-http ferry-server ferry-onnx)
lane_b=(ferry-testkit ferry-s3 ferry-spark ferry-redis ferry-cli ferry-it)

run_lane() {
  local name="$1"
  shift
  local m
  for m in "$@"; do
    echo "---- lane $name: $m"
    "${mvn[@]}" surefire:test -pl "$m" "${extra[@]}" || { echo "---- lane $name: $m FAILED"; return 1; }
  done
}

extra=("$@")
start=$SECONDS
( set -o pipefail; run_lane A "${lane_a[@]}" 2>&1 | sed -u 's/^/[A] /' ) &
pid_a=$!
( set -o pipefail; run_lane B "${lane_b[@]}" 2>&1 | sed -u 's/^/[B] /' ) &
pid_b=$!
status=0
wait "$pid_a" || status=1
wait "$pid_b" || status=1
echo "tests ran in $((SECONDS - start)) s; $([ "$status" -eq 0 ] && echo 'all passed' || echo 'FAILED (see the lane marked FAILED above)')"
exit "$status"
