package io.ferry.onnx;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.ferry.Ferry;
import io.ferry.format.TensorInfo;
import io.ferry.read.ModelReader;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.PullOptions;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Models written by the {@code onnx} Python package (Debian's {@code python3-onnx}, installed by {@code .ci/run}):
 * initializers in the file, external data in one file, one external file per initializer. Each is pushed; every
 * initializer is listed with its dtype and shape and reads by name as the bytes numpy gave onnx (external data is cut
 * at its initializers); each pulls byte-identical. Skipped where the package is missing, except under {@code CI=true},
 * where that fails.
 */
class OnnxPythonTest {
  private static final Path PYTHON = Path.of("/usr/bin/python3");

  @TempDir static Path written;
  @TempDir Path tmp;

  @BeforeAll
  static void write() throws Exception {
    Path script = written.resolve("onnx_write.py");
    try (InputStream in = OnnxPythonTest.class.getResourceAsStream("onnx_write.py")) {
      Files.copy(in, script);
    }
    boolean python = Files.isExecutable(PYTHON);
    String err = "no " + PYTHON;
    int code = 1;
    if (python) {
      Path errFile = written.resolve("python.err");
      Process p = new ProcessBuilder(PYTHON.toString(), script.toString(), written.toString())
          .redirectError(errFile.toFile()).redirectOutput(written.resolve("python.out").toFile()).start();
      assertThat(p.waitFor(300, TimeUnit.SECONDS)).as("python finished").isTrue();
      code = p.exitValue();
      err = Files.readString(errFile);
    }
    boolean missing = !python || code != 0 && err.contains("No module named");
    if ("true".equals(System.getenv("CI"))) {
      assertThat(missing).as("CI=true: /usr/bin/python3 with onnx and numpy is required (apt-get install"
          + " python3-onnx): %s", err).isFalse();
    }
    assumeTrue(!missing, "the onnx Python package is not available: " + err);
    assertThat(code).as("onnx_write.py failed: %s", err).isZero();
  }

  @Test
  void modelsTheOnnxPackageWritesAreListedReadByNameAndPulledIdentical() throws IOException {
    List<String> names = new ArrayList<>();
    try (Stream<Path> s = Files.list(written.resolve("expected"))) {
      s.forEach(p -> names.add(p.getFileName().toString().replaceFirst("\\.bin$", "")));
    }
    assertThat(names).hasSize(6);
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      for (String kind : List.of("inline", "one", "many")) {
        Path dir = written.resolve(kind);
        repo.push(dir, kind, PushOptions.builder().build());
        Snapshot snap = repo.snapshot(repo.resolve(kind));
        TreeMap<String, TensorInfo> listed = new TreeMap<>();
        for (FileEntry f : snap.files()) {
          if (!f.path().equals("model.onnx")) {
            assertThat(f.format()).as("%s: %s", kind, f.path()).isEqualTo(OnnxExternalDataFormat.DATA_FORMAT);
          }
          f.tensors().forEach(t -> listed.put(t.name(), t));
        }
        assertThat(listed.keySet()).as(kind).containsExactlyInAnyOrderElementsOf(names);
        assertThat(listed.get("emb.weight").shape()).containsExactly(300L, 64L);
        assertThat(listed.get("ln.bias").dtype()).hasToString("F16");
        assertThat(listed.get("scalar").shape()).isEmpty();
        try (ModelReader r = repo.open(kind)) {
          for (String name : names) {
            byte[] expected = Files.readAllBytes(written.resolve("expected/" + name + ".bin"));
            assertThat(r.read(name).array()).as("%s: %s", kind, name).isEqualTo(expected);
          }
        }
        Path out = tmp.resolve("out-" + kind);
        repo.pull(kind, out, PullOptions.defaults());
        try (Stream<Path> s = Files.list(dir)) {
          for (Path p : s.toList()) {
            assertThat(out.resolve(p.getFileName().toString())).as(kind).hasSameBinaryContentAs(p);
          }
        }
      }
    }
    assertThat(Files.readString(written.resolve("python.out"), StandardCharsets.UTF_8)).isEqualTo("ok\n");
  }
}
