package io.ferry.testkit.crash;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.id.ChunkId;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.VerifyReport;
import io.ferry.store.RefLogEntry;
import io.ferry.transfer.TransferListener;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/** Child JVMs, file hashes and store checks shared by the crash tests. */
final class CrashSupport {
  private CrashSupport() {}

  /** A running child JVM of {@link CrashChild} and the file that collects its output. */
  record Child(Process process, Path outputFile, long startNanos) {
    /** Waits up to {@code millis} for the child to finish by itself, then kills it with SIGKILL; returns its exit code. */
    int killAfter(long millis) throws Exception {
      if (!process.waitFor(millis, TimeUnit.MILLISECONDS)) {
        process.destroyForcibly();
      }
      assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("child gone after SIGKILL").isTrue();
      return process.exitValue();
    }

    /** Waits for the child to finish and asserts it succeeded; returns its output. */
    String await(long seconds) throws Exception {
      boolean done = process.waitFor(seconds, TimeUnit.SECONDS);
      if (!done) {
        process.destroyForcibly();
      }
      assertThat(done).as("child finished within %d s; output:%n%s", seconds, output()).isTrue();
      assertThat(process.exitValue()).as("exit code; output:%n%s", output()).isZero();
      return output();
    }

    long elapsedMillis() {
      return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
    }

    String output() throws IOException {
      return Files.readString(outputFile);
    }
  }

  /** Starts {@code CrashChild args...} in a new JVM with this JVM's class path. */
  static Child start(Path scratch, String... args) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-XX:TieredStopAtLevel=1");
    cmd.add("-XX:+UseSerialGC");
    cmd.add("-Xmx256m");
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(CrashChild.class.getName());
    cmd.addAll(List.of(args));
    Path out = Files.createTempFile(scratch, "child-", ".out");
    long t0 = System.nanoTime();
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
    return new Child(p, out, t0);
  }

  /** SHA-256 of every regular file under {@code root}, by relative path, streaming. */
  static Map<String, String> hashFiles(Path root) throws IOException {
    Map<String, String> out = new TreeMap<>();
    List<Path> files;
    try (Stream<Path> s = Files.walk(root)) {
      files = s.filter(Files::isRegularFile).toList();
    }
    ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
    for (Path f : files) {
      MessageDigest md = ChunkId.sha256();
      try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
        while (ch.read(buf.clear()) >= 0) {
          md.update(buf.flip());
        }
      }
      out.put(root.relativize(f).toString().replace('\\', '/'), HexFormat.of().formatHex(md.digest()));
    }
    return out;
  }

  /**
   * Writes {@code value} as 8 bytes every 256 KiB into the tensor data of every safetensors file under {@code dir}, so
   * that every chunk of a big tensor gets new content while the files stay valid.
   */
  static void stamp(Path dir, long value) throws IOException {
    List<Path> files;
    try (Stream<Path> s = Files.list(dir)) {
      files = s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
    }
    ByteBuffer v = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, value);
    for (Path f : files) {
      try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
        ByteBuffer n = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        ch.read(n, 0);
        long dataStart = 8 + n.getLong(0);
        for (long at = dataStart; at + 8 <= ch.size(); at += 256 * 1024) {
          ch.write(v.duplicate(), at);
        }
      }
    }
  }

  /** Asserts a full verify of the store finds nothing wrong. */
  static void assertVerifies(Repository repo, String when) throws IOException {
    VerifyReport r = repo.verify(null, TransferListener.NONE);
    assertThat(r.errors()).as("verify errors %s", when).isEmpty();
  }

  /** Pulls {@code ref} into a fresh directory under {@code scratch} and asserts every file matches {@code expected}. */
  static void assertPullsIdentical(Repository repo, String ref, Map<String, String> expected, Path scratch)
      throws IOException {
    Path dest = Files.createTempDirectory(scratch, "pull-");
    try {
      repo.pull(ref, dest, io.ferry.transfer.PullOptions.defaults());
      assertThat(hashFiles(dest)).as("files of %s", ref).isEqualTo(expected);
    } finally {
      deleteTree(dest);
    }
  }

  /** Asserts the ref's log is a chain (each entry's old is the previous entry's new) that ends at its current value. */
  static List<RefLogEntry> assertChainedLog(Repository repo, String ref, ChunkId current) throws IOException {
    List<RefLogEntry> log = repo.refLog(ref);
    ChunkId prev = null;
    for (int i = 0; i < log.size(); i++) {
      RefLogEntry e = log.get(i);
      assertThat(e.oldId()).as("old value of entry %d of %s's log", i, ref).isEqualTo(prev);
      prev = e.newId();
    }
    assertThat(prev).as("last entry of %s's log is its value", ref).isEqualTo(current);
    return log;
  }

  /** Files left in the store's {@code tmp/}. */
  static List<Path> tmpFiles(Path store) throws IOException {
    try (Stream<Path> s = Files.list(store.resolve("tmp"))) {
      return s.toList();
    }
  }

  /** Total size of the files under the store's {@code objects/}. */
  static long objectBytes(Path store) throws IOException {
    try (Stream<Path> s = Files.walk(store.resolve("objects"))) {
      return s.filter(Files::isRegularFile).mapToLong(p -> {
        try {
          return Files.size(p);
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }).sum();
    }
  }

  static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : s.sorted((a, b) -> b.compareTo(a)).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
