package io.ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.PushResult;
import io.ferry.repo.RepositoryOptions;
import io.ferry.scan.PathFilter;
import io.ferry.server.FerryServer;
import io.ferry.server.ServerOptions;
import io.ferry.server.auth.Scope;
import io.ferry.server.auth.TokenFile;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Python client ({@code clients/python}) against real servers: its unittest suite runs in Debian's python3 with
 * numpy (and torch) against a token-protected server over a store holding a pushed model (two versions), and a
 * development server over a second store that the suite corrupts on disk. Without python3 and numpy the test is
 * skipped, except under {@code CI=true}, where it fails.
 */
@Timeout(180)
class PythonClientTest {
  @TempDir Path tmp;

  @Test
  void thePythonSuitePassesAgainstRealServers() throws Exception {
    long start = System.nanoTime();
    Path client = clientDir();
    // FERRY_TEST_PYTHON runs the suite with another Python (a virtual environment with numpy 2 and torch 2, say)
    String python = System.getenv("FERRY_TEST_PYTHON") != null ? System.getenv("FERRY_TEST_PYTHON")
        : Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
    Run probe = run(List.of(python, "-c", "import numpy"), client, Map.of(), 60);
    if (probe.code != 0) {
      String why = python + " with numpy is not available: " + probe.output;
      assertThat("true".equals(System.getenv("CI"))).as("CI=true needs " + why).isFalse();
      Assumptions.abort(why);
    }
    Path models = tmp.resolve("models");
    run(List.of(python, "tests/model_files.py", models.toString()), client, Map.of(), 60).ok();

    Path tokens = tmp.resolve("tokens.json");
    SecureRandom r = new SecureRandom();
    String reader = TokenFile.create(tokens, "reader", List.of(Scope.parse("read:tiny*")), Clock.systemUTC(), r)
        .token();
    String other = TokenFile.create(tokens, "other", List.of(Scope.parse("read:other*")), Clock.systemUTC(), r)
        .token();
    List<String> log = Collections.synchronizedList(new ArrayList<>());
    Path store = tmp.resolve("store");
    Path corruptible = tmp.resolve("store2");
    try (Repository repo = open(store); Repository repo2 = open(corruptible)) {
      String first = push(repo, models.resolve("v1"), "tiny:prod", "first").versionId().hex();
      push(repo, models.resolve("v2"), "tiny:prod", "second");
      repo.tag("tiny@" + first, "main", null); // a tag whose name the model API reads as the head
      push(repo, models.resolve("tree"), "tiny-tree", "tree");
      if (Files.isDirectory(models.resolve("views"))) { // written when torch is importable
        push(repo, models.resolve("views"), "tiny-views", "views");
      }
      push(repo, models.resolve("onnx"), "tiny-onnx", "onnx");
      push(repo2, models.resolve("v2"), "tiny:prod", "only");
      // a version ferry rm took off the head's line: readable by its id (and a prefix of it) until gc
      push(repo, models.resolve("v1"), "tiny-gone", "kept");
      String gone = push(repo, models.resolve("v2"), "tiny-gone", "removed").versionId().hex();
      repo.removeVersion("tiny-gone@" + gone, false);
      try (FerryServer server = FerryServer.start(repo, ServerOptions.builder().listen("127.0.0.1", 0)
              .tokens(TokenFile.open(tokens)).accessLog(log::add).build());
          FerryServer dev = FerryServer.start(repo2, ServerOptions.builder().listen("127.0.0.1", 0)
              .accessLog(line -> { }).build())) {
        Map<String, String> env = Map.of(
            "FERRY_TEST_URL", server.uri().toString(),
            "FERRY_TEST_TOKEN", reader,
            "FERRY_TEST_OTHER_TOKEN", other,
            "FERRY_TEST_MODELS", models.toString(),
            "FERRY_TEST_CORRUPT_URL", dev.uri().toString(),
            "FERRY_TEST_CORRUPT_STORE", corruptible.toString(),
            "FERRY_TEST_TMP", tmp.resolve("py").toString(),
            "FERRY_TEST_GONE", gone,
            "FERRY_TEST_GLOBS", globTable(tmp.resolve("globs.json")).toString());
        long t0 = System.nanoTime();
        Run suite = run(List.of(python, "-m", "unittest", "-v", "tests.test_client"), client, env, 150);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        suite.ok();
        String ran = suite.output.lines().filter(l -> l.startsWith("Ran ")).findFirst().orElse("?");
        System.out.printf("PythonClientTest: python suite %d ms (%s), whole test %d ms%n", ms, ran,
            (System.nanoTime() - start) / 1_000_000);
        assertThat(suite.output).as("unittest summary (%d ms)", ms).contains("\nOK");
        if ("true".equals(System.getenv("CI"))) {
          assertThat(suite.output).as("nothing skipped under CI=true").doesNotContain("skipped=")
              .doesNotContain("... skipped");
        }
        assertThat(suite.output).as("tokens never printed").doesNotContain(reader).doesNotContain(other);
        synchronized (log) {
          assertThat(String.join("\n", log)).as("the access log").doesNotContain(reader).contains("decoded=1");
        }
      }
    }
  }

  private static Repository open(Path dir) throws IOException {
    return Ferry.open(dir.toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
  }

  private static PushResult push(Repository repo, Path dir, String ref, String message) throws IOException {
    return repo.push(dir, ref, PushOptions.builder().message(message).author("test").build());
  }

  /** Globs (those of PathFilterTest and more) against paths. */
  private static final List<String> GLOBS = List.of("*.json", "**/*.json", "**/*.safetensors", "*.safetensors",
      "a/**", "a/**/z", "**", "*", "a/*", "/config.json", "**/b/*", "a/**/*.json", "model-0000?-of-*.safetensors", "?",
      "[a-c]x", "[!a-c]x", "[!a]x", "[^a]x", "[]]x", "[!]]x", "[a-]x", "[x", "a.b", "\\*", "(x|y)+", "a**",
      "**a", "a/**b", "x\\", "tok*", "[0-9]*.bin", "*.[jJ]son", "ж*", "a/b/?.json", "*/*/*", "\uD83D\uDE00*",
      "[\uD83D\uDE00]x", "[!\uD83D\uDE00]x", "?x", "[+---b]x", "[a-c-e]x", "[a-c--e]x", "[---]x", "[--0]x", "[!--0]x");
  private static final List<String> PATHS = List.of("config.json", "sub/config.json", "a/b/config.json", "a/b/c.json",
      "model.safetensors", "a/b/extra.safetensors", "a/b/c", "ab/c", "a/z", "a/b/c/z", "a/bz", "ab",
      "model-00001-of-00002.safetensors", "/", "x", "bx", "dx", "/x", "]x", "-x", "[x", "a.b", "axb", "*", "(x|y)+",
      "x\\", "tokenizer.json", "1.bin", "config.Json", "ёлка/ж.txt", "ж.txt", "a", "b/a", "\uD83D\uDE00.bin",
      "\uD83D\uDE00x", "\uD83D\uDE01x", "+x", ",x", ".x", "0x", "5x", "cx", "ex", "Ax");

  /**
   * What Java's PathFilter (the rules of {@code ferry pull --include/--exclude}) takes, for the Python client to take
   * the same: a JSON array of {@code {"include": [...], "exclude": [...], "path": ..., "taken": bool}}.
   */
  private static Path globTable(Path file) throws IOException {
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    var rows = json.createArrayNode();
    List<List<List<String>>> filters = new ArrayList<>();
    for (String g : GLOBS) {
      filters.add(List.of(List.of(g), List.of()));
    }
    filters.add(List.of(List.of("**/*.txt"), List.of("notes/a.txt")));
    filters.add(List.of(List.of(), List.of("*.json")));
    filters.add(List.of(List.of("**/*.json", "*.safetensors"), List.of("a/**")));
    List<String> paths = new ArrayList<>(PATHS);
    paths.addAll(List.of("notes/a.txt", "notes/b.txt", "b.bin"));
    for (List<List<String>> f : filters) {
      PathFilter filter = PathFilter.of(f.get(0), f.get(1));
      for (String path : paths) {
        var row = rows.addObject();
        f.get(0).forEach(row.putArray("include")::add);
        f.get(1).forEach(row.putArray("exclude")::add);
        row.put("path", path).put("taken", filter.test(path));
      }
    }
    json.writeValue(file.toFile(), rows);
    return file;
  }

  /** {@code clients/python} of this checkout, found from the module's working directory upwards. */
  static Path clientDir() {
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      Path c = p.resolve("clients").resolve("python");
      if (Files.isRegularFile(c.resolve("pyproject.toml"))) {
        return c;
      }
    }
    throw new AssertionError("no clients/python/pyproject.toml above " + Path.of("").toAbsolutePath());
  }

  private record Run(List<String> command, int code, String output) {
    Run ok() {
      assertThat(code).as("exit code of %s; output:%n%s", command, output).isZero();
      return this;
    }
  }

  /** Runs a process to its end (bounded), stdout and stderr together; PYTHONPATH = the client's source. */
  private Run run(List<String> command, Path dir, Map<String, String> env, int seconds) throws Exception {
    Path out = Files.createTempFile(tmp, "python", ".log");
    ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(out.toFile());
    pb.environment().putAll(env);
    pb.environment().put("PYTHONPATH", dir.toString());
    pb.environment().put("PYTHONDONTWRITEBYTECODE", "1");
    pb.environment().remove("FERRY_TOKEN");
    for (String proxy : List.of("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")) {
      pb.environment().remove(proxy); // the servers are on loopback
    }
    Process p;
    try {
      p = pb.start();
    } catch (IOException e) {
      return new Run(command, -1, "cannot start " + command.get(0) + ": " + e.getMessage());
    }
    if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
      p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      return new Run(command, -1, "timed out after " + seconds + " s; output:\n"
          + Files.readString(out, StandardCharsets.UTF_8));
    }
    return new Run(command, p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
  }
}
