#!/usr/bin/env bash
# Starts a local S3 endpoint (S3Proxy, data in a directory) for trying Ferry's s3:// stores on one machine, and prints
# the store URI and the environment variables to use. Ctrl-C stops it.
#   dev/s3.sh [data directory] [port]     (defaults: $TMPDIR/ferry-s3, 9000)
# S3Proxy runs from ferry-s3's test class path: it is not among the CLI's runtime dependencies.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir="${1:-${TMPDIR:-/tmp}/ferry-s3}"
port="${2:-9000}"
echo "dev/s3.sh: building ferry-s3 and its test classes..." >&2
mvn -q -B -Dstyle.color=never -DskipTests -pl ferry-s3 -am install >&2
exec mvn -q -B -Dstyle.color=never -pl ferry-s3 exec:java -Dexec.classpathScope=test \
  -Dexec.mainClass=io.ferry.store.s3.DevS3 -Dexec.args="$dir $port"
