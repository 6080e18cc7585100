#!/usr/bin/env bash
# Checks Ferry's GGUF and ONNX readers against the reference loaders, by hand (not part of the test suite: it needs
# npm and about 800 MB of node modules). Prints, for GGUF files Ferry's GgufWriter makes, whether llama.cpp (the
# prebuilt one in node-llama-cpp) loads or refuses each; and, for the ONNX model the ferry-onnx tests use, whether
# onnxruntime gives identical outputs for the original and for the copy Ferry pushed and pulled.
# Usage: dev/format-checks/run.sh [WORKDIR]   (default: a new temporary directory)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="${1:-$(mktemp -d -t ferry-format-checks.XXXXXX)}"
mkdir -p "$work"
echo "work directory: $work" >&2

(cd "$root" && mvn -q -B -pl ferry-testkit,ferry-onnx -am test-compile -DskipTests)
(cd "$root" && mvn -q -B -pl ferry-onnx dependency:build-classpath -Dmdep.outputFile="$work/onnx.cp")
cp="$root/ferry-core/target/classes:$root/ferry-testkit/target/classes:$root/ferry-onnx/target/classes:$(cat "$work/onnx.cp")"

# node modules: node-llama-cpp ships llama.cpp prebuilt; onnxruntime-node ships its CPU library (its install script
# only fetches GPU extras, from a host we may not reach, so it is skipped)
(cd "$work" && npm install --no-audit --no-fund --silent node-llama-cpp@3.22.1 >/dev/null \
  && npm install --no-audit --no-fund --silent --ignore-scripts onnxruntime-node@1.30.0 >/dev/null)
cp "$here"/*.mjs "$work/"

# GGUF: files GgufWriter makes, loaded by llama.cpp
javac -cp "$cp" -d "$work/classes" "$here/GgufSamples.java"
java -cp "$cp:$work/classes" GgufSamples "$work/gguf"
(cd "$work" && node llama-cpp-check.mjs "$work/gguf")

# ONNX: push and pull the real model through a local store, then run both copies
cat > "$work/OnnxRoundTrip.java" <<'JAVA'
import io.ferry.Ferry;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.PullOptions;
import java.nio.file.Path;

public class OnnxRoundTrip {
  public static void main(String[] a) throws Exception {
    try (Repository repo = Ferry.open(a[1], StoreOptions.createIfMissing(), RepositoryOptions.defaults())) {
      repo.push(Path.of(a[0]), "model", PushOptions.builder().build());
      repo.pull("model", Path.of(a[2]), PullOptions.defaults());
    }
  }
}
JAVA
javac -cp "$cp" -d "$work/classes" "$work/OnnxRoundTrip.java"
mkdir -p "$work/onnx-src"
cp "$root"/ferry-onnx/target/test-models/*.onnx "$work/onnx-src/model.onnx"
java -cp "$cp:$work/classes" OnnxRoundTrip "$work/onnx-src" "$work/store" "$work/onnx-out"
cmp "$work/onnx-src/model.onnx" "$work/onnx-out/model.onnx" && echo "pulled ONNX model is byte-identical"
(cd "$work" && node onnxruntime-check.mjs "$work/onnx-src/model.onnx" "$work/onnx-out/model.onnx")
