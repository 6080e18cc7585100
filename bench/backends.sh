#!/usr/bin/env bash
# Ferry's HDFS and S3 stores against the engines' own clients (Hadoop FileSystem API, S3 Transfer Manager):
# pull, push and a -Xmx256m pull, with a MiniDFSCluster (3 DataNodes) and S3Proxy started by the benchmark.
# Writes its section of BENCHMARKS.md (between <!-- backends:start --> and <!-- backends:end -->).
#   bench/backends.sh                       # 1.06 GiB model, best of 3 (~10 min, ~8 GB under bench-work/backends/)
#   bench/backends.sh --size 256m --runs 1 --out bench-work/BACKENDS-quick.md   # smoke test
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
mvn -q -B -Dstyle.color=never -DskipTests -pl ferry-cli,ferry-bench -am install >&2
touch ferry-cli/target/.ferry-built   # the ./ferry launcher's "built" stamp: the CLI was just built
exec java ${BENCH_JAVA_OPTS:--Xmx2g} -cp "ferry-bench/target/classes:ferry-bench/target/lib/*" \
  io.ferry.bench.BackendBenchmarks --repo "$here" "$@"
