#!/usr/bin/env bash
# Ferry on Spark (local[2] in the benchmark's JVM): the ferry data source reading every tensor vs Spark's binaryFile
# reading the pulled safetensors, cluster derive (int8) vs the local derive, and the per-core rate of the Spark verify.
# Writes its section of BENCHMARKS.md (between <!-- spark:start --> and <!-- spark:end -->).
#   bench/spark.sh                                              # 1 GiB model, best of 3 (~8 GB under bench-work/spark/)
#   bench/spark.sh --size 64m --runs 1 --out bench-work/SPARK-quick.md   # smoke test
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
# compile in the reactor (no install), and take ferry-spark's test class path: Spark, the shaded Hadoop client, testkit
mvn -q -B -Dstyle.color=never -DskipTests -pl ferry-spark,ferry-bench -am test-compile dependency:build-classpath \
  -Dmdep.includeScope=test -Dmdep.outputFile=target/classpath.txt >&2
flags="$(sed -n 's:.*<spark.jvm.flags>\(.*\)</spark.jvm.flags>.*:\1:p' ferry-spark/pom.xml)"
exec java ${BENCH_JAVA_OPTS:--Xmx2g} $flags -Dlog4j2.configurationFile=ferry-spark/src/test/resources/log4j2.properties \
  -cp "ferry-bench/target/classes:ferry-spark/target/classes:$(cat ferry-spark/target/classpath.txt)" \
  io.ferry.bench.SparkBenchmarks "$@"
