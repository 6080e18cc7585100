package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferry.Ferry;
import io.ferry.transfer.PullOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import picocli.CommandLine;

/**
 * Shared by the Derive* tests: running the CLI in-process, a store to run it on (with a model in it), and numpy
 * through python3.
 */
final class DeriveSupport {
  static final ObjectMapper JSON = new ObjectMapper();
  private static final Path PYTHON = Path.of("/usr/bin/python3");
  private static Boolean numpy;
  private static Boolean torch;

  private DeriveSupport() {}

  /** A finished CLI run. */
  record Run(int code, String out, String err) {}

  /** Runs {@code ferry args...} against {@code store}. */
  static Run ferry(Path store, String... args) {
    List<String> all = new ArrayList<>(List.of(args));
    int at = all.size();
    for (int i = 0; i < all.size(); i++) {
      if (all.get(i).equals("--")) {
        at = i;
      }
    }
    all.addAll(Math.min(at, all.size()), List.of("--store", store.toString()));
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cmd = FerryCli.commandLine();
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    int code = cmd.execute(all.toArray(String[]::new));
    return new Run(code, out.toString(), err.toString());
  }

  /**
   * A new store at {@code tmp/store} holding one version, {@code ref}: a {@code model.safetensors} of {@code tensors}
   * written at {@code tmp/model} and pushed.
   */
  static Path storeWith(Path tmp, String ref, Tensor... tensors) throws IOException {
    Path store = tmp.resolve("store");
    Path model = tmp.resolve("model");
    ModelGenerator.writeSafetensors(model.resolve("model.safetensors"), List.of(tensors), Map.of());
    assertThat(ferry(store, "init").code()).isZero();
    assertThat(ferry(store, "push", model.toString(), ref).code()).isZero();
    return store;
  }

  static Repository open(Path store) throws IOException {
    return Ferry.open(store.toString(), StoreOptions.existing(), RepositoryOptions.defaults());
  }

  static Path pull(Path store, String ref, Path dest) throws IOException {
    try (Repository r = open(store)) {
      r.pull(ref, dest, PullOptions.defaults());
    }
    return dest;
  }

  /** Every file of the store with its size: equal before and after means nothing was written. */
  static TreeMap<String, Long> storeState(Path store) throws IOException {
    TreeMap<String, Long> m = new TreeMap<>();
    try (Stream<Path> s = Files.walk(store)) {
      for (Path p : s.filter(Files::isRegularFile).toList()) {
        m.put(store.relativize(p).toString(), Files.size(p));
      }
    }
    return m;
  }

  /**
   * Whether numpy is usable through /usr/bin/python3. With CI=true it must be: the test fails loudly instead of being
   * skipped ({@code .ci/run} installs python3-numpy).
   */
  static void assumeNumpy() throws Exception {
    if (numpy == null) {
      boolean ok = false;
      if (Files.isExecutable(PYTHON)) {
        Process p = new ProcessBuilder(PYTHON.toString(), "-c", "import numpy").redirectErrorStream(true).start();
        ok = p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
      }
      numpy = ok;
    }
    if ("true".equals(System.getenv("CI"))) {
      assertThat(numpy).as("CI=true: /usr/bin/python3 with numpy is required (apt-get install python3-numpy)")
          .isTrue();
    }
    assumeTrue(numpy, "numpy through /usr/bin/python3 is not available");
  }

  /**
   * Whether torch is usable through /usr/bin/python3. With CI=true it must be: the test fails loudly instead of being
   * skipped ({@code .ci/run} installs python3-torch).
   */
  static void assumeTorch() throws Exception {
    assumeNumpy();
    if (torch == null) {
      Process p = new ProcessBuilder(PYTHON.toString(), "-c", "import torch").redirectErrorStream(true).start();
      torch = p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0;
    }
    if ("true".equals(System.getenv("CI"))) {
      assertThat(torch).as("CI=true: /usr/bin/python3 with torch is required (apt-get install python3-torch)")
          .isTrue();
    }
    assumeTrue(torch, "torch through /usr/bin/python3 is not available");
  }

  /** Runs derive_check.py with the arguments and returns its stdout; fails with its stderr if it fails. */
  static String python(Path work, String... args) throws Exception {
    Path script = work.resolve("derive_check.py");
    if (!Files.exists(script)) {
      try (InputStream in = DeriveSupport.class.getResourceAsStream("derive_check.py")) {
        Files.copy(in, script);
      }
    }
    List<String> cmd = new ArrayList<>(List.of(PYTHON.toString(), script.toString()));
    cmd.addAll(List.of(args));
    Path errFile = work.resolve("python.err");
    Process p = new ProcessBuilder(cmd).redirectError(errFile.toFile()).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(300, TimeUnit.SECONDS)).as("python finished").isTrue();
    assertThat(p.exitValue()).as("python %s failed: %s", args[0], Files.readString(errFile)).isZero();
    return out;
  }

  static JsonNode report(Path dir) throws IOException {
    return JSON.readTree(dir.resolve("ferry-derivation.json").toFile());
  }
}
