package io.ferry.bench;

import java.io.File;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Runs a child process and measures it: wall time from fork to exit, and (through {@code /usr/bin/time} when present)
 * user and system CPU seconds and the peak resident set of the largest process of the tree. Baselines and Ferry runs
 * go through the same wrapper, so its small cost cancels out of the ratios.
 */
final class Proc {
  private static final Path TIME = Path.of("/usr/bin/time");

  /** What one run cost. {@code maxRssKb} and the CPU times are -1 when unknown. */
  record Run(double wallS, double userS, double sysS, long maxRssKb, int exit) {
    double cpuS() {
      return userS < 0 ? -1 : userS + sysS;
    }
  }

  private final Path scratch;

  Proc(Path scratch) {
    this.scratch = scratch;
  }

  /** Runs {@code cmd} with stdout to {@code stdout} (null: discarded), failing if it exits non-zero. */
  Run run(List<String> cmd, Map<String, String> env, File stdout) throws IOException {
    Path timeOut = scratch.resolve("time.out");
    List<String> full = new ArrayList<>();
    boolean timed = Files.isExecutable(TIME);
    if (timed) {
      full.addAll(List.of(TIME.toString(), "-f", "%U %S %M", "-o", timeOut.toString()));
    }
    full.addAll(cmd);
    ProcessBuilder pb = new ProcessBuilder(full);
    pb.environment().putAll(env);
    pb.redirectOutput(stdout == null ? ProcessBuilder.Redirect.DISCARD : ProcessBuilder.Redirect.to(stdout));
    Path err = scratch.resolve("stderr.txt");
    pb.redirectError(err.toFile());
    long t0 = System.nanoTime();
    Process p = pb.start();
    int exit;
    try {
      exit = p.waitFor();
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while running " + cmd);
    }
    double wall = (System.nanoTime() - t0) / 1e9;
    if (exit != 0) {
      throw new IOException("command failed (exit " + exit + "): " + String.join(" ", cmd) + "\n"
          + tail(Files.readString(err)));
    }
    double user = -1;
    double sys = -1;
    long rss = -1;
    if (timed) {
      String[] f = lastLine(Files.readString(timeOut)).trim().split("\\s+");
      user = Double.parseDouble(f[0]);
      sys = Double.parseDouble(f[1]);
      rss = Long.parseLong(f[2]);
    }
    return new Run(wall, user, sys, rss, exit);
  }

  /** Runs a shell snippet ({@code bash -c}). */
  Run sh(String script) throws IOException {
    return run(List.of("bash", "-c", script), Map.of(), null);
  }

  /** Runs a command without measuring it. */
  void quiet(String... cmd) throws IOException {
    run(List.of(cmd), Map.of(), null);
  }

  /** Output of a command, or "?" if it fails. */
  static String capture(String... cmd) {
    try {
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
      String s = new String(p.getInputStream().readAllBytes()).trim();
      p.waitFor();
      return s;
    } catch (IOException e) {
      return "?";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "?";
    }
  }

  private static String lastLine(String s) {
    String[] lines = s.strip().split("\n");
    return lines[lines.length - 1];
  }

  private static String tail(String s) {
    return s.length() > 2000 ? s.substring(s.length() - 2000) : s;
  }
}
