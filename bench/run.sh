#!/usr/bin/env bash
# Runs Ferry's end-to-end benchmarks and writes BENCHMARKS.md at the repository root.
#   bench/run.sh                 # full run: 2 GB and 4 GB models, best of 3 (~15 min, ~20 GB under bench-work/)
#   bench/run.sh --quick         # smoke test with small sizes (writes bench-work/BENCHMARKS-quick.md)
# Other options: --size 2g --big-size 4g --runs 3 --versions 10000 --small-chunks 1000000
#   --only user,pull,push,cat,read,big,versions,startup,checkpoints,torch,smallidx,web,serve
#     (with --only, the sections run go to bench-work/BENCHMARKS-partial.md, to be merged into BENCHMARKS.md by hand)
# Generated models and stores are kept in bench-work/ and reused by later runs; delete it to start over.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
mvn -q -B -Dstyle.color=never -DskipTests -pl ferry-cli,ferry-bench -am install >&2
rm -f ferry-cli/target/.ferry-built && ./ferry --version >/dev/null   # the launcher rebuilds its class-data archive
exec java ${BENCH_JAVA_OPTS:--Xmx1g} -cp "ferry-bench/target/classes:ferry-bench/target/lib/*" \
  io.ferry.bench.Benchmarks --repo "$here" "$@"
