package io.ferry.testkit;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * npm packages for tests that check Ferry against JavaScript tools (Hugging Face's clients, llama.cpp's GGUF reader):
 * installs a pinned version into a directory of the calling module's {@code target/} (npm keeps its downloads in the
 * user's npm cache, so a clean build installs again without the network once they are there), and runs node there.
 *
 * <p>Where node, npm or the npm registry is missing, the calling test is skipped with npm's output, except under
 * {@code CI=true}, where that is a failure: CI installs node and npm ({@code .ci/run}), so a skip there would hide a
 * broken check.
 */
public final class NodePackages {
  /** What a command printed (stdout and stderr together) and its exit code; -1 if it did not start or finish. */
  public record Run(int code, String output) {}

  private static final ObjectMapper JSON = new ObjectMapper();

  private NodePackages() {}

  /**
   * Installs {@code module@version} with npm into {@code work} unless that version is there already.
   *
   * @param extra npm options, e.g. {@code --ignore-scripts} for packages whose install script downloads binaries
   * @throws org.opentest4j.TestAbortedException (skips the test) if npm cannot install it here and CI is not set
   * @throws AssertionError if npm cannot install it and {@code CI=true}
   */
  public static void install(Path work, String module, String version, String... extra) throws Exception {
    if (version.equals(installedVersion(work, module))) {
      return;
    }
    Files.createDirectories(work);
    List<String> cmd = new ArrayList<>(List.of("npm", "install", "--no-audit", "--no-fund", "--no-save",
        "--silent"));
    cmd.addAll(List.of(extra));
    cmd.add(module + "@" + version);
    Run npm = run(work, 300, cmd.toArray(String[]::new));
    if (npm.code() != 0) {
      if ("true".equalsIgnoreCase(System.getenv("CI"))) {
        throw new AssertionError("CI=true and npm could not install " + module + "@" + version + ": "
            + npm.output());
      }
      assumeTrue(false, "npm could not install " + module + "@" + version + " here: " + npm.output());
    }
  }

  /**
   * Makes sure {@code node} is there and at least version {@code major} (a package's {@code engines} field), so that
   * a test fails or skips saying so rather than with a syntax error from deep inside the package.
   *
   * @throws org.opentest4j.TestAbortedException (skips the test) if not and CI is not set
   * @throws AssertionError if not and {@code CI=true}
   */
  public static void requireNode(int major) throws IOException, InterruptedException {
    Run v = run(Path.of("."), 30, "node", "--version");
    String found = v.output().strip();
    int have = -1;
    if (v.code() == 0 && found.matches("v\\d+\\..*")) {
      have = Integer.parseInt(found.substring(1, found.indexOf('.')));
    }
    if (have < major) {
      String why = "node " + major + " or newer is needed; found " + (v.code() == 0 ? found : "none (" + found + ")");
      if ("true".equalsIgnoreCase(System.getenv("CI"))) {
        throw new AssertionError("CI=true and " + why);
      }
      assumeTrue(false, why);
    }
  }

  /** The version of {@code module} installed in {@code work}, or null. */
  static String installedVersion(Path work, String module) throws IOException {
    Path pkg = work.resolve("node_modules").resolve(module).resolve("package.json");
    if (!Files.isRegularFile(pkg)) {
      return null;
    }
    JsonNode v = JSON.readTree(pkg.toFile()).get("version");
    return v == null ? null : v.asText();
  }

  /**
   * Runs a command in {@code dir} and waits at most {@code seconds} for it (then kills it); a command that cannot
   * start (no node) gives code -1 and the reason. The output goes through a temporary file, so that a command that
   * hangs cannot block the wait.
   */
  public static Run run(Path dir, int seconds, String... cmd) throws IOException, InterruptedException {
    return run(dir, seconds, Map.of(), cmd);
  }

  /**
   * As {@link #run(Path, int, String...)}, with {@code env} added to the environment ({@code FERRY_*} and
   * {@code HF_*} variables of the calling process are not passed on, so that a developer's settings cannot change
   * what a test sees).
   */
  public static Run run(Path dir, int seconds, Map<String, String> env, String... cmd)
      throws IOException, InterruptedException {
    Path log = Files.createTempFile("ferry-node-", ".log");
    try {
      Process p;
      try {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
            .redirectOutput(log.toFile());
        pb.environment().keySet().removeIf(k -> k.startsWith("FERRY_") || k.startsWith("HF_"));
        pb.environment().putAll(env);
        p = pb.start();
      } catch (IOException e) {
        return new Run(-1, String.join(" ", cmd) + ": " + e.getMessage());
      }
      if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor();
        return new Run(-1, String.join(" ", cmd) + " took more than " + seconds + " s: "
            + new String(Files.readAllBytes(log), StandardCharsets.UTF_8));
      }
      return new Run(p.exitValue(), new String(Files.readAllBytes(log), StandardCharsets.UTF_8));
    } finally {
      Files.deleteIfExists(log);
    }
  }
}
