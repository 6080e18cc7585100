#!/usr/bin/env bash
# Runs Ferry's whole test suite (unit, contract, crash and CLI tests). Benchmarks are separate: see BENCHMARKS.md.
#
# Without arguments: one Maven build compiles, packages and installs every module (tests compiled, not run), then
# each module's tests run as a Maven build of that module alone, FERRY_TEST_JOBS of them at a time (2 by default),
# longest first. In one reactor build a module's tests start only once every module it depends on has passed its own,
# which left one core idle for the last third of the run; the modules' tests need each other's jars, not each other's
# results (docs/design-notes.md, "The test suite's time"). Each module's output is printed whole when it ends, and in
# target/test-logs/; the run fails if any module fails, after all have run. Needs bash 5.1 (wait -n -p); an older
# bash runs the reactor build.
#
# With arguments: one reactor build, `mvn verify` with them, e.g. `./test.sh -pl ferry-core -Dtest=FloatCodecTest`.
#
# The test JVMs' temporary directories (their java.io.tmpdir: every @TempDir with the stores, models and pulls the
# tests write) are in a memory file system where there is one with room (/dev/shm, 8 GiB free), in a directory of
# this checkout's that is removed before and after the run; else in each module's target/test-tmp. The suite writes
# some gigabytes and forces them to disk as Ferry does (fsync of every object a push stores): on a disk that cost
# about a sixth of ferry-core's and ferry-testkit's CPU (docs/design-notes.md, "The test suite's time"). The code path
# is the same either way. FERRY_TEST_TMP=disk keeps them on disk.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
mvn_opts=(-B -Dstyle.color=never -ntp)

tmp_root=""
if [ "${FERRY_TEST_TMP:-}" != disk ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  shm_free_kib=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
  if [ "${shm_free_kib:-0}" -ge $((8 << 20)) ]; then
    tmp_root="/dev/shm/ferry-test-$(printf '%s' "$PWD" | cksum | cut -d' ' -f1)"
    rm -rf "$tmp_root"
    # Maven puts each module's name in: one directory per module
    mvn_opts+=("-Dferry.test.tmpdir=$tmp_root/\${project.artifactId}")
  fi
fi
remove_tmp() {
  if [ -n "$tmp_root" ]; then rm -rf "$tmp_root"; fi
}
trap remove_tmp EXIT

bash_version=$((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1]))
if [ $# -gt 0 ] || [ "$bash_version" -lt 501 ]; then
  # -T 2: modules that do not depend on each other test side by side, two at a time on two cores
  mvn "${mvn_opts[@]}" -T 2 verify "$@"
  exit
fi

mvn "${mvn_opts[@]}" -T 2 install -DskipTests

# Longest first (as measured on two cores), so that the last to start are short; a module not listed (a new one)
# runs last.
order=(ferry-cassandra ferry-hdfs ferry-cli ferry-server ferry-core ferry-testkit ferry-s3 ferry-spark ferry-it
  ferry-redis ferry-http ferry-onnx ferry-bench)
modules=()
while read -r m; do modules+=("$m"); done < <(sed -n 's:^ *<module>\(.*\)</module>.*:\1:p' pom.xml)
# The shortest module runs first and alone (below); the others queue.
first=ferry-onnx
queue=()
for m in "${order[@]}"; do
  if [[ " ${modules[*]} " == *" $m "* ]] && [ "$m" != "$first" ]; then queue+=("$m"); fi
done
for m in "${modules[@]}"; do
  if [[ " ${order[*]} " != *" $m "* ]]; then queue+=("$m"); fi
done

logs=target/test-logs
rm -rf "$logs"
mkdir -p "$logs"
jobs_max="${FERRY_TEST_JOBS:-2}"
declare -A module_of started_at
failed=()
summary=()
trap 'kill $(jobs -p) 2>/dev/null; exit 130' INT TERM

start() {
  mvn "${mvn_opts[@]}" verify -pl "$1" > "$logs/$1.log" 2>&1 &
  module_of[$!]=$1
  started_at[$1]=$SECONDS
  echo "[test.sh] $1: tests started"
}

finish() {
  local m=$1 rc=$2 took=$((SECONDS - started_at[$1]))
  local result=passed
  [ "$rc" -eq 0 ] || { result="FAILED (exit $rc)"; failed+=("$m"); }
  local line
  line=$(printf '%-16s %s in %d:%02d' "$m" "$result" $((took / 60)) $((took % 60)))
  summary+=("$line")
  echo "[test.sh] ===== $line; its output: ====="
  cat "$logs/$m.log"
  echo "[test.sh] ===== end of $m ====="
}

# The first module alone: its tests fetch what Surefire needs to run tests (not fetched by the build above), once,
# before several Maven processes share the local repository, which Maven 3 does not lock.
if [[ " ${modules[*]} " == *" $first "* ]]; then
  start "$first"
  rc=0
  wait "$!" || rc=$?
  finish "$first" "$rc"
fi

running=0
next=0
while [ "$next" -lt "${#queue[@]}" ] || [ "$running" -gt 0 ]; do
  while [ "$running" -lt "$jobs_max" ] && [ "$next" -lt "${#queue[@]}" ]; do
    start "${queue[$next]}"
    next=$((next + 1))
    running=$((running + 1))
  done
  rc=0
  wait -n -p done_pid || rc=$?
  running=$((running - 1))
  finish "${module_of[$done_pid]}" "$rc"
done

echo "[test.sh] ===== every module's tests ====="
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "[test.sh] FAILED: ${failed[*]} (their output above; also in $logs/)"
  exit 1
fi
echo "[test.sh] all ${#summary[@]} modules passed"
