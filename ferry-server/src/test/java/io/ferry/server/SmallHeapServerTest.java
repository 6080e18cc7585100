package io.ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Request bodies cannot exhaust the heap of a server that runs with the heap the {@code ferry} launcher gives it
 * (384 MiB): the server runs in a child JVM ({@link #main}), with its default limits, and is sent what a client can
 * send. A chunked upload past the maximum object size grew its buffer by doubling, to twice the bound, and died of
 * an {@code OutOfMemoryError} (500, nothing logged); and request bodies held whole (a batch read of records, 5 MB)
 * were allocated at their declared length outside the memory budget, so 150 of them at once ended in {@code
 * OutOfMemoryError}s for everyone.
 */
@Timeout(240)
class SmallHeapServerTest {
  private static final Pattern LISTENING = Pattern.compile("listening (\\d+)");

  /** The child: a development server over the store {@code args[0]}, idle timeout 5 s, access log on stdout. */
  public static void main(String[] args) throws Exception {
    Repository repo = Ferry.open(args[0], StoreOptions.createIfMissing(), RepositoryOptions.defaults());
    FerryServer s = FerryServer.start(repo, ServerOptions.builder().listen("127.0.0.1", 0)
        .idleTimeout(Duration.ofSeconds(5)).accessLog(line -> {
          synchronized (System.out) {
            System.out.println("access " + line);
            System.out.flush();
          }
        }).build());
    synchronized (System.out) {
      System.out.println("listening " + s.port());
      System.out.flush();
    }
    s.join();
  }

  @Test
  void hugeChunkedUploadsAndManyWholeBodiesAtOnceLeaveTheServerServing(@TempDir Path tmp) throws Exception {
    Path out = tmp.resolve("server.out");
    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx384m",
        "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
        SmallHeapServerTest.class.getName(), tmp.resolve("store").toString())
        .redirectErrorStream(true).redirectOutput(out.toFile()).start();
    try {
      int port = awaitPort(p, out);

      // 200 MiB in chunks of 1 MiB, no length: cut at the bound (129 MiB) with 413
      try (Socket s = new Socket("127.0.0.1", port)) {
        OutputStream o = s.getOutputStream();
        o.write(("PUT /v1/store/chunks/" + "cd".repeat(32) + " HTTP/1.1\r\nHost: localhost\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        byte[] block = new byte[1 << 20];
        try {
          for (int i = 0; i < 200; i++) {
            o.write("100000\r\n".getBytes(StandardCharsets.US_ASCII));
            o.write(block);
            o.write("\r\n".getBytes(StandardCharsets.US_ASCII));
          }
        } catch (IOException e) {
          // the server answered and closed
        }
      }
      assertThat(awaitLines(out, "PUT /v1/store/chunks/", 1)).singleElement()
          .satisfies(l -> assertThat(l).contains(" 413 "));

      // 150 batch reads of records declaring 5 MB bodies, one byte of which comes: the server still answers others
      List<Socket> held = new ArrayList<>();
      try {
        for (int i = 0; i < 150; i++) {
          Socket s = new Socket("127.0.0.1", port);
          s.getOutputStream().write(("POST /v1/store/records/read HTTP/1.1\r\nHost: localhost\r\n"
              + "Content-Length: 5000000\r\n"
              + "\r\n{").getBytes(StandardCharsets.US_ASCII));
          held.add(s);
        }
        assertThat(status(port, "GET /v1/health")).isEqualTo(200);
        assertThat(status(port, "GET /v1/store")).isEqualTo(200);
      } finally {
        for (Socket s : held) {
          s.close();
        }
      }
      List<String> reads = awaitLines(out, "POST /v1/store/records/read", 150);
      assertThat(reads).hasSize(150).noneMatch(l -> l.contains(" 500 "));
      assertThat(status(port, "GET /v1/health")).isEqualTo(200);
      assertThat(Files.readString(out)).doesNotContain("OutOfMemoryError");
    } finally {
      p.destroy();
      if (!p.waitFor(30, TimeUnit.SECONDS)) {
        p.destroyForcibly();
      }
    }
  }

  private static int status(int port, String requestLine) throws IOException {
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setSoTimeout(20_000);
      s.getOutputStream().write((requestLine + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
          .getBytes(StandardCharsets.US_ASCII));
      InputStream in = s.getInputStream();
      String head = new String(in.readNBytes(12), StandardCharsets.US_ASCII);
      return head.length() == 12 ? Integer.parseInt(head.substring(9)) : -1;
    }
  }

  private static int awaitPort(Process p, Path out) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      assertThat(p.isAlive()).as("server running; output:%n%s", read(out)).isTrue();
      Matcher m = LISTENING.matcher(read(out));
      if (m.find()) {
        return Integer.parseInt(m.group(1));
      }
      TimeUnit.MILLISECONDS.sleep(50);
    }
    throw new AssertionError("the server did not listen within 60 s: " + read(out));
  }

  /** The access lines holding {@code what} once there are {@code count}, or those there are after 90 s. */
  private static List<String> awaitLines(Path out, String what, int count) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
    List<String> found = List.of();
    while (System.nanoTime() < deadline) {
      found = read(out).lines().filter(l -> l.startsWith("access ") && l.contains(what)).toList();
      if (found.size() >= count) {
        break;
      }
      TimeUnit.MILLISECONDS.sleep(100);
    }
    return found;
  }

  private static String read(Path out) throws IOException {
    return Files.exists(out) ? Files.readString(out, StandardCharsets.UTF_8) : "";
  }
}
