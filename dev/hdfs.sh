#!/usr/bin/env bash
# Starts a local HDFS (MiniDFSCluster: a NameNode and 3 DataNodes, in one JVM) for trying Ferry on HDFS, prints the
# hdfs:// and webhdfs:// store URIs, and runs until Ctrl-C. Needs JDK 17 and Maven; the first run downloads the
# Hadoop minicluster (test scope of ferry-hdfs, never a dependency of the CLI).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mvn -q -B -ntp install -DskipTests -pl ferry-core,ferry-testkit -am
exec mvn -q -B -ntp -pl ferry-hdfs test-compile exec:java -Dexec.classpathScope=test \
  -Dexec.mainClass=io.ferry.store.hdfs.DevHdfs -Dexec.cleanupDaemonThreads=false "$@"
