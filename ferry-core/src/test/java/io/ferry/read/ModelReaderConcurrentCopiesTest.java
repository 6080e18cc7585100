package io.ferry.read;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.codec.CodecPolicy;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.version.FileEntry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Copies and streams of several {@link ModelReader}s at once in one JVM share one bounded set of decode buffers: each
 * copy used to take up to a third of the heap of direct buffers (and as much of heap frames) for itself, so eight at
 * once in a small heap ran out of memory.
 */
class ModelReaderConcurrentCopiesTest {
  @TempDir Path tmp;

  /**
   * Eight threads of a JVM with a 96 MiB heap each copy (or stream the tensors of) a model of four 8 MiB zstd chunks,
   * twice, at the same time, each with a reader of its own: every copy is byte for byte the file, and all end within
   * the test's bound (a copy waiting for buffers that its own later chunks hold would hang). Copies and streams that
   * failed before (their output or sink gave up at the first chunk, with others in flight) left no buffer counted as
   * lent: the shared bound would have run out after a few, and the copies after them waited for ever.
   */
  @Test
  void eightCopiesAtOnceShareTheBuffersOfASmallHeap() throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("model"));
    Path file = dir.resolve("model.safetensors");
    long dataStart = writeModel(file, 4, 2048, 1024);
    Path store = tmp.resolve("store");
    try (Repository repo = Ferry.open(store.toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults())) {
      repo.push(dir, "m", PushOptions.builder().message("four 8 MiB tensors").codec(CodecPolicy.ZSTD).build());
      FileEntry f = repo.snapshot(repo.resolve("m")).files().get(0);
      assertThat(f.chunks()).as("one chunk a tensor").hasSizeGreaterThanOrEqualTo(4);
    }
    byte[] all = Files.readAllBytes(file);
    String whole = sha256(all, 0);
    String data = sha256(all, (int) dataStart);
    Path launcher = Path.of(System.getProperty("java.home"), "bin", "java");
    Path output = tmp.resolve("copies.out");
    Path errors = tmp.resolve("copies.err");
    Process p = new ProcessBuilder(launcher.toString(), "-Xmx96m", "-XX:+UseSerialGC", "-cp",
        System.getProperty("java.class.path"), CopiesInAJvm.class.getName(), store.toString(), "8", "4")
        .redirectOutput(output.toFile()).redirectError(errors.toFile()).start();
    boolean ended = p.waitFor(2, TimeUnit.MINUTES);
    if (!ended) {
      p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }
    String out = Files.readString(output) + Files.readString(errors);
    assertThat(ended).as("the copies' JVM ended within two minutes: %s", out).isTrue();
    assertThat(p.exitValue()).as(out).isZero();
    List<String> lines = Files.readAllLines(output);
    assertThat(lines).as(out).hasSize(16);
    for (String line : lines) {
      assertThat(line).as(out).isIn("copy " + whole, "stream " + data);
    }
  }

  /**
   * First fails {@code args[2]} copies (their output throws at the first write) and as many streams (their sink
   * throws at the first tensor) of model {@code m} of store {@code args[0]}; then copies (even threads: the file) or
   * streams (odd threads: its tensors) it on {@code args[1]} threads at once, each twice with a reader of its own,
   * and prints each round's SHA-256, or the error; exits 1 if any of those failed, or if the failed ones left fewer
   * buffers to take than a copy may have in flight.
   */
  static final class CopiesInAJvm {
    public static void main(String[] args) throws Exception {
      int threads = Integer.parseInt(args[1]);
      List<String> results = java.util.Collections.synchronizedList(new ArrayList<>());
      CountDownLatch start = new CountDownLatch(1);
      List<Thread> all = new ArrayList<>();
      try (Repository repo = Ferry.open(args[0])) {
        for (int i = 0; i < Integer.parseInt(args[2]); i++) {
          try (ModelReader r = repo.open("m")) {
            r.copyFile("model.safetensors", failing());
          } catch (IOException expected) {
            // the output gave up
          }
          try (ModelReader r = repo.open("m")) {
            r.forEachTensor((tensor, bytes) -> {
              throw new IOException("the sink gave up");
            });
          } catch (IOException expected) {
            // the sink gave up
          }
        }
        // nothing runs now: as many buffers as a copy may have in flight are there to take without waiting
        SharedBuffers.Share share = SharedBuffers.forChunksUpTo(8 << 20);
        List<ByteBuffer> taken = new ArrayList<>();
        for (int i = 0; i < share.slots(); i++) {
          ByteBuffer b = share.takeOutput(8 << 20, false);
          if (b == null) {
            results.add("failed: after the failed copies, " + i + " of " + share.slots() + " buffers to take");
            break;
          }
          taken.add(b);
        }
        taken.forEach(share::giveOutput);
        for (int i = 0; i < threads; i++) {
          boolean copy = i % 2 == 0;
          Thread t = new Thread(() -> {
            try {
              start.await();
              for (int round = 0; round < 2; round++) {
                MessageDigest md = MessageDigest.getInstance("SHA-256");
                try (ModelReader r = repo.open("m")) {
                  if (copy) {
                    r.copyFile("model.safetensors", digesting(md));
                  } else {
                    r.forEachTensor((tensor, bytes) -> md.update(bytes));
                  }
                }
                results.add((copy ? "copy " : "stream ") + HexFormat.of().formatHex(md.digest()));
              }
            } catch (Throwable e) {
              results.add("failed: " + e);
            }
          });
          t.start();
          all.add(t);
        }
        start.countDown();
        for (Thread t : all) {
          t.join();
        }
      }
      boolean failed = false;
      for (String r : results) {
        System.out.println(r);
        failed |= r.startsWith("failed");
      }
      System.exit(failed ? 1 : 0);
    }

    private static WritableByteChannel failing() {
      return new WritableByteChannel() {
        @Override
        public int write(ByteBuffer src) throws IOException {
          throw new IOException("the output gave up");
        }

        @Override
        public boolean isOpen() {
          return true;
        }

        @Override
        public void close() {}
      };
    }

    private static WritableByteChannel digesting(MessageDigest md) {
      return new WritableByteChannel() {
        @Override
        public int write(ByteBuffer src) {
          int n = src.remaining();
          md.update(src);
          return n;
        }

        @Override
        public boolean isOpen() {
          return true;
        }

        @Override
        public void close() {}
      };
    }
  }

  /** A safetensors file of {@code n} F32 tensors of {@code rows} x {@code cols}; returns where its data starts. */
  private static long writeModel(Path file, int n, int rows, int cols) throws IOException {
    StringBuilder h = new StringBuilder("{");
    long bytes = 4L * rows * cols;
    for (int i = 0; i < n; i++) {
      h.append(i == 0 ? "" : ",").append("\"layers.").append(i).append(".weight\":{\"dtype\":\"F32\",\"shape\":[")
          .append(rows).append(',').append(cols).append("],\"data_offsets\":[").append(i * bytes).append(',')
          .append((i + 1) * bytes).append("]}");
    }
    byte[] header = h.append('}').toString().getBytes(StandardCharsets.UTF_8);
    try (var out = Files.newOutputStream(file)) {
      out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
      out.write(header);
      for (int i = 0; i < n; i++) {
        SplittableRandom r = new SplittableRandom(i);
        ByteBuffer b = ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
          b.putFloat((float) (r.nextGaussian() * 0.02));
        }
        out.write(b.array());
      }
    }
    return 8 + header.length;
  }

  private static String sha256(byte[] b, int from) throws NoSuchAlgorithmException {
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    md.update(b, from, b.length - from);
    return HexFormat.of().formatHex(md.digest());
  }
}
