package io.ferry.server;

import static io.ferry.server.HardeningTest.statusLine;
import static io.ferry.server.HardeningTest.trickle;
import static io.ferry.server.ServerFixture.get;
import static org.assertj.core.api.Assertions.assertThat;
import io.ferry.id.ChunkId;
import io.ferry.repo.Results.VersionRef;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Slow clients never hold the server's memory budget for long: uploads and decoded reads that trickle while they
 * hold a share are cut, requests that cannot get a share are refused at once (503, or 429 for Hugging Face clients),
 * and requests that need no memory are served meanwhile. Apart from {@link HardeningTest}, over a store of its own,
 * so that JUnit runs the two classes side by side: these tests mostly wait on slow clients.
 */
@Timeout(180)
class MemoryBudgetHardeningTest {
  @TempDir static Path tmp;
  static ServerFixture fx;
  static ChunkId chunk;

  @BeforeAll
  static void start() throws Exception {
    fx = new ServerFixture(tmp);
    List<ChunkId> ids = new ArrayList<>();
    fx.repo.backend().chunks().list(o -> {
      if (o.size() > 1 << 20) {
        ids.add(o.id());
      }
    });
    chunk = ids.get(0);
  }

  @AfterAll
  static void stop() throws Exception {
    fx.close();
  }

  /**
   * A health check, a stored chunk's read and a ref's read on {@code server}, each on a new connection, are answered
   * 200 within 15 s (they need no memory and no body, so nothing a slow client holds may keep them waiting).
   */
  private static void assertReadsThatNeedNoMemoryAreServed(URI server) throws Exception {
    for (String path : List.of("/v1/health", "/v1/store/chunks/" + chunk, "/v1/store/refs/org/tiny/tags/prod")) {
      try (Socket s = new Socket(server.getHost(), server.getPort())) {
        s.setSoTimeout(15_000);
        s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII));
        assertThat(statusLine(s)).as(path).isEqualTo("HTTP/1.1 200");
      }
    }
  }

  @Test
  void uploadsTricklingWhileTheyHoldTheMemoryBudgetAre408AndOthersStillPull() throws Exception {
    // two uploads at about 10 KiB/s, ten times the minimum rate of a body, each holding half of the server's memory
    // budget: they held it for minutes, and every decoded read meanwhile waited 30 s for its share and was 503
    byte[] decoded = fx.repo.objects().readObject(chunk);
    URI small = smallBudgetServer(decoded.length);
    CountDownLatch othersDone = new CountDownLatch(1);
    ExecutorService slow = Executors.newFixedThreadPool(2);
    List<Socket> sockets = new java.util.concurrent.CopyOnWriteArrayList<>();
    try {
      CountDownLatch started = new CountDownLatch(2);
      List<Future<String>> answers = new ArrayList<>();
      for (int i = 0; i < 2; i++) {
        answers.add(slow.submit(() -> {
          try (Socket s = new Socket(small.getHost(), small.getPort())) {
            sockets.add(s);
            OutputStream out = s.getOutputStream();
            out.write(("PUT /v1/store/chunks/" + chunk + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
                + decoded.length
                + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(new byte[1024]);
            started.countDown();
            // a KiB each 100 ms at most (until the server answers, or the others are done), never the whole body
            String answer = trickle(s, 1024, 100, decoded.length / 1024 - 2, () -> othersDone.getCount() == 0);
            return answer.isEmpty() ? "no answer" : answer;
          }
        }));
      }
      assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();
      assertThat(pullDecodedAtOnce(small, decoded)).as("decoded reads of other clients").containsOnly(200);
      for (Future<String> a : answers) {
        assertThat(a.get(60, TimeUnit.SECONDS)).isEqualTo("HTTP/1.1 408");
      }
    } finally {
      othersDone.countDown();
      sockets.forEach(MemoryBudgetHardeningTest::closeQuietly);
      slow.shutdownNow();
    }
  }

  @Test
  void decodedReadsTakenSlowlyWhileTheyHoldTheMemoryBudgetAreCutAndOthersStillPull() throws Exception {
    // two clients reading decoded chunks at about 13 KiB/s (4 KiB each 300 ms), so that no idle timeout ends them,
    // each holding half of the server's memory budget: they held it for minutes, and every other decoded read
    // meanwhile waited 30 s for its share and was 503
    byte[] decoded = fx.repo.objects().readObject(chunk);
    URI small = smallBudgetServer(decoded.length);
    CountDownLatch othersDone = new CountDownLatch(1);
    ExecutorService slow = Executors.newFixedThreadPool(2);
    List<Socket> sockets = new java.util.concurrent.CopyOnWriteArrayList<>();
    try {
      CountDownLatch started = new CountDownLatch(2);
      List<Future<Long>> read = new ArrayList<>();
      for (int i = 0; i < 2; i++) {
        read.add(slow.submit(() -> {
          try (Socket s = new Socket()) {
            sockets.add(s);
            s.setReceiveBufferSize(4096);
            s.setSoTimeout(30_000);
            s.connect(new java.net.InetSocketAddress(small.getHost(), small.getPort()));
            s.getOutputStream().write(("GET /v1/store/chunks/" + chunk + "?decoded=1 HTTP/1.1\r\nHost: localhost\r\n"
                + "Connection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            InputStream in = s.getInputStream();
            long got = 0;
            byte[] buf = new byte[4096];
            // 4 KiB each 300 ms until the others are done, then the rest (what is left of it) at once
            for (int n = in.read(buf); n >= 0; n = in.read(buf)) {
              if (got == 0) {
                started.countDown();
                String head = new String(buf, 0, n, StandardCharsets.ISO_8859_1);
                assertThat(head).startsWith("HTTP/1.1 200").contains("\r\n\r\n");
                got -= head.indexOf("\r\n\r\n") + 4;
              }
              got += n;
              othersDone.await(300, TimeUnit.MILLISECONDS);
            }
            return got; // the body's bytes before the connection ended
          }
        }));
      }
      assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();
      assertThat(pullDecodedAtOnce(small, decoded)).as("decoded reads of other clients").containsOnly(200);
      othersDone.countDown();
      for (Future<Long> f : read) {
        assertThat(f.get(60, TimeUnit.SECONDS)).as("bytes the slow reader got before the server closed")
            .isLessThan(decoded.length);
      }
    } finally {
      othersDone.countDown();
      sockets.forEach(MemoryBudgetHardeningTest::closeQuietly);
      slow.shutdownNow();
    }
  }

  @Test
  void anUploadHoldingItsShareOfTheMemoryBudgetThatStallsIs408WithoutWaitingForTheIdleTimeout() throws Exception {
    // a body that sends nothing was ended only by the idle timeout (2 min here, which an operator may set longer
    // still for slow links), and held its share all that time; at the minimum rate it would have arrived by 16 s
    byte[] decoded = fx.repo.objects().readObject(chunk);
    URI small = smallBudgetServer(decoded.length);
    long start = System.nanoTime();
    try (Socket stalled = new Socket(small.getHost(), small.getPort())) {
      stalled.getOutputStream().write(("PUT /v1/store/chunks/" + chunk + " HTTP/1.1\r\nHost: localhost\r\n"
          + "Content-Length: " + decoded.length + "\r\n\r\nab").getBytes(StandardCharsets.US_ASCII));
      stalled.setSoTimeout(90_000);
      assertThat(statusLine(stalled)).isEqualTo("HTTP/1.1 408");
    }
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(60));
  }

  @Test
  void theMinimumRateOfATransferHoldingAShareIsTheServersOption() throws Exception {
    // 1 MiB/s here: a stalled upload is cut, and its 408 names the rate it was held to (it was 256 KiB/s, fixed)
    byte[] decoded = fx.repo.objects().readObject(chunk);
    URI fast = fx.start(ServerOptions.builder().memoryBudget(32 << 20).maxObjectSize(8 << 20).minHeldRate(1 << 20)
        .idleTimeout(Duration.ofMinutes(2))).uri();
    try (Socket stalled = new Socket(fast.getHost(), fast.getPort())) {
      stalled.getOutputStream().write(("PUT /v1/store/chunks/" + chunk + " HTTP/1.1\r\nHost: localhost\r\n"
          + "Content-Length: " + decoded.length + "\r\nConnection: close\r\n\r\nab")
          .getBytes(StandardCharsets.US_ASCII));
      stalled.setSoTimeout(90_000);
      String answer = new String(stalled.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(answer).startsWith("HTTP/1.1 408").contains("slower than " + (1 << 20) + " bytes per second");
    }
  }

  @Test
  void aRequestThatCannotGetItsShareOfTheMemoryBudgetIs503WithRetryAfter() throws Exception {
    // an upload declaring the whole budget (32 MiB, which may take 128 s at the minimum rate) and sending nothing
    // holds it until the idle timeout (2 min here); a decoded read waits for its share (3 s here) and is answered busy,
    // which said "retry later" without the header that says when
    URI small = fx.start(ServerOptions.builder().memoryBudget(32 << 20).maxObjectSize(32 << 20)
        .idleTimeout(Duration.ofMinutes(2)).budgetWait(Duration.ofSeconds(3))).uri();
    try (Socket hold = new Socket(small.getHost(), small.getPort())) {
      hold.getOutputStream().write(("PUT /v1/store/chunks/" + chunk + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
          + (32 << 20) + "\r\nExpect: 100-continue\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      hold.setSoTimeout(30_000);
      // the server asks for the body once it holds the body's share
      assertThat(statusLine(hold)).isEqualTo("HTTP/1.1 100");
      HttpResponse<byte[]> r = fx.http.send(get(small, "/v1/store/chunks/" + chunk + "?decoded=1")
          .timeout(Duration.ofSeconds(90)).build(), HttpResponse.BodyHandlers.ofByteArray());
      assertThat(r.statusCode()).isEqualTo(503);
      assertThat(new String(r.body(), StandardCharsets.UTF_8)).contains("\"busy\"");
      assertThat(r.headers().firstValue("Retry-After")).hasValue("1");
    }
  }

  @Test
  void aHuggingFaceDownloadThatCannotGetItsShareIs429BeforeTheClientsDownloadTimeout() throws Exception {
    // a file's chunk waited the budget's 30 s for its share: huggingface_hub, whose downloads time out after 10 s by
    // default, had left and asked again long before, while the server kept its place among the waiting requests
    URI small = fx.start(ServerOptions.builder().memoryBudget(32 << 20).maxObjectSize(32 << 20)
        .idleTimeout(Duration.ofMinutes(2))).uri();
    try (Socket hold = new Socket(small.getHost(), small.getPort())) {
      hold.getOutputStream().write(("PUT /v1/store/chunks/" + chunk + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
          + (32 << 20) + "\r\nExpect: 100-continue\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      hold.setSoTimeout(30_000);
      assertThat(statusLine(hold)).isEqualTo("HTTP/1.1 100");
      HttpResponse<byte[]> r = fx.http.send(get(small, "/org/tiny/resolve/main/config.json")
          .header("Range", "bytes=1-3").timeout(Duration.ofSeconds(10)).build(),
          HttpResponse.BodyHandlers.ofByteArray());
      assertThat(r.statusCode()).isEqualTo(429);
      assertThat(r.headers().firstValue("Retry-After")).hasValue("1");
    }
  }

  @Test
  void aPartOfAHuggingFaceFilesChunkTakesTheShareOfTheFrameAndTheDecodedChunk() throws Exception {
    // a few bytes inside a chunk took the chunk's length and theirs from the budget, while the read holds the chunk's
    // frame and, for a coded chunk, the chunk decoded beside it: under load the heap held about twice the budget
    VersionRef v = fx.repo.resolve("org/tiny");
    FileEntry file = null;
    long at = 0;
    long biggest = 0;
    for (FileEntry f : fx.repo.snapshot(v).files()) {
      long start = 0;
      for (ChunkRef c : f.chunks()) {
        if (c.length() > biggest) {
          file = f;
          at = start;
          biggest = c.length();
        }
        start += c.length();
      }
    }
    assertThat(biggest).isGreaterThan(1 << 20);
    long budget = 16 << 20;
    // what is left of the budget holds the chunk and 64 KiB more, not the frame and the decoded chunk
    long held = budget - biggest - (64 << 10);
    URI small = fx.start(ServerOptions.builder().memoryBudget(budget).maxObjectSize(budget)
        .idleTimeout(Duration.ofMinutes(2))).uri();
    try (Socket hold = new Socket(small.getHost(), small.getPort())) {
      hold.getOutputStream().write(("PUT /v1/store/chunks/" + chunk + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
          + held + "\r\nExpect: 100-continue\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      hold.setSoTimeout(30_000);
      assertThat(statusLine(hold)).isEqualTo("HTTP/1.1 100");
      HttpResponse<byte[]> r = fx.http.send(get(small, "/org/tiny/resolve/main/" + file.path())
          .header("Range", "bytes=" + (at + 1) + "-" + (at + 3)).timeout(Duration.ofSeconds(60)).build(),
          HttpResponse.BodyHandlers.ofByteArray());
      assertThat(r.statusCode()).as(new String(r.body(), StandardCharsets.UTF_8)).isEqualTo(429);
    }
  }

  @Test
  void aWholeCodedChunkOfAHuggingFaceFileTakesTheShareOfItsFrameToo() throws Exception {
    // a range that is exactly one coded chunk reads the chunk's frame whole and decodes it into the answer's buffer:
    // both are held, and the read took the share of the answer alone
    VersionRef v = fx.repo.resolve("org/tiny");
    FileEntry file = null;
    long at = 0;
    long raw = 0;
    for (FileEntry f : fx.repo.snapshot(v).files()) {
      long start = 0;
      for (ChunkRef c : f.chunks()) {
        if (file == null && c.length() > 256 << 10 && fx.repo.backend().chunks().size(c.id()) < c.length()) {
          file = f;
          at = start;
          raw = c.length();
        }
        start += c.length();
      }
    }
    assertThat(file).as("a coded loose chunk in the model").isNotNull();
    long budget = 16 << 20;
    // what is left of the budget holds the chunk and 64 KiB more, not its frame beside it
    long held = budget - raw - (64 << 10);
    URI small = fx.start(ServerOptions.builder().memoryBudget(budget).maxObjectSize(budget)
        .idleTimeout(Duration.ofMinutes(2))).uri();
    try (Socket hold = new Socket(small.getHost(), small.getPort())) {
      hold.getOutputStream().write(("PUT /v1/store/chunks/" + chunk + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
          + held + "\r\nExpect: 100-continue\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      hold.setSoTimeout(30_000);
      assertThat(statusLine(hold)).isEqualTo("HTTP/1.1 100");
      HttpResponse<byte[]> r = fx.http.send(get(small, "/org/tiny/resolve/main/" + file.path())
          .header("Range", "bytes=" + at + "-" + (at + raw - 1)).timeout(Duration.ofSeconds(60)).build(),
          HttpResponse.BodyHandlers.ofByteArray());
      assertThat(r.statusCode()).as(new String(r.body(), StandardCharsets.UTF_8)).isEqualTo(429);
    }
  }

  @Test
  void aDecodedReadOfACodedChunkTakesTheShareOfItsFrameToo() throws Exception {
    // a coded chunk's frame is read whole and decoded into the answer's buffer: both are held, and the read took the
    // share of the decoded bytes alone, so under load the heap held up to twice the budget
    ChunkId coded = null;
    long raw = 0;
    List<io.ferry.store.StoredObject> loose = new ArrayList<>();
    fx.repo.backend().chunks().list(o -> {
      if (o.size() > 256 << 10) {
        loose.add(o);
      }
    });
    for (io.ferry.store.StoredObject o : loose) {
      long n = fx.repo.objects().readObject(o.id()).length;
      if (o.size() < n) {
        coded = o.id();
        raw = n;
        break;
      }
    }
    assertThat(coded).as("a coded chunk in the model").isNotNull();
    long budget = 16 << 20;
    long held = budget - raw - (64 << 10);
    URI small = fx.start(ServerOptions.builder().memoryBudget(budget).maxObjectSize(budget)
        .idleTimeout(Duration.ofMinutes(2)).budgetWait(Duration.ofSeconds(3))).uri();
    try (Socket hold = new Socket(small.getHost(), small.getPort())) {
      hold.getOutputStream().write(("PUT /v1/store/chunks/" + chunk + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
          + held + "\r\nExpect: 100-continue\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      hold.setSoTimeout(30_000);
      assertThat(statusLine(hold)).isEqualTo("HTTP/1.1 100");
      HttpResponse<byte[]> r = fx.http.send(get(small, "/v1/store/chunks/" + coded + "?decoded=1")
          .timeout(Duration.ofSeconds(90)).build(), HttpResponse.BodyHandlers.ofByteArray());
      assertThat(r.statusCode()).isEqualTo(503);
    }
  }

  @Test
  void requestsWaitingForTheMemoryBudgetLeaveWorkersForRequestsThatNeedNoMemory() throws Exception {
    // an upload declaring the whole budget holds it; twice as many uploads as the server has worker threads then
    // waited 30 s each for a share, on a worker thread each, and a health check or a stored chunk's read, which
    // need no memory, waited behind them and timed out
    int threads = 8;
    URI small = fx.start(ServerOptions.builder().memoryBudget(32 << 20).maxObjectSize(32 << 20).maxThreads(threads)
        .idleTimeout(Duration.ofMinutes(2))).uri();
    List<Socket> sockets = new ArrayList<>();
    try {
      Socket hold = new Socket(small.getHost(), small.getPort());
      sockets.add(hold);
      hold.getOutputStream().write(("PUT /v1/store/chunks/" + chunk + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
          + (32 << 20) + "\r\nExpect: 100-continue\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      hold.setSoTimeout(30_000);
      assertThat(statusLine(hold)).isEqualTo("HTTP/1.1 100");
      List<Socket> waiters = new ArrayList<>();
      for (int i = 0; i < 2 * threads; i++) {
        Socket w = new Socket(small.getHost(), small.getPort());
        sockets.add(w);
        waiters.add(w);
        w.getOutputStream().write(("PUT /v1/store/chunks/" + chunk + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
            + (1 << 20) + "\r\nExpect: 100-continue\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      }
      // well within the 30 s the waiting uploads wait for their shares
      assertReadsThatNeedNoMemoryAreServed(small);
      // the uploads past the few that may wait (a quarter of the workers) are answered busy at once
      // load shed by design, logged as any other answer, not as a failure of the server (which ends in "error: ")
      int refused = waiters.size() - threads / 4;
      assertThat(fx.accessLog.await(l -> l.contains(" PUT /v1/store/chunks/") && l.contains(" 503 "), refused))
          .hasSizeGreaterThanOrEqualTo(refused).allSatisfy(l -> assertThat(l).endsWith("ms"));
    } finally {
      sockets.forEach(MemoryBudgetHardeningTest::closeQuietly);
    }
  }

  @Test
  void smallBodiesArrivingSlowlyHoldNoWorkerThread() throws Exception {
    // bodies of 64 KiB or less need no share of the memory budget and only have to keep 1 KiB/s: twice as many
    // connections as the server has worker threads, each sending part of a small body and then waiting, each held a
    // worker thread in a blocking read, and a health check, a ref's read and a stored chunk's read waited behind them
    int threads = 8;
    URI small = fx.start(ServerOptions.builder().maxThreads(threads).idleTimeout(Duration.ofMinutes(2))).uri();
    String record = "{\"holder\":\"slow\"}".repeat(40);
    List<Socket> slow = new ArrayList<>();
    try {
      for (int i = 0; i < 2 * threads; i++) {
        Socket s = new Socket(small.getHost(), small.getPort());
        slow.add(s);
        s.getOutputStream().write(("PUT /v1/store/records/slow/body" + i + " HTTP/1.1\r\nHost: localhost\r\n"
            + "Content-Length: " + record.length() + "\r\n\r\n" + record.substring(0, 10))
            .getBytes(StandardCharsets.US_ASCII));
      }
      assertReadsThatNeedNoMemoryAreServed(small);
      // the slow bodies, once whole, reach their handler intact
      for (Socket s : slow) {
        s.setSoTimeout(15_000);
        s.getOutputStream().write(record.substring(10).getBytes(StandardCharsets.US_ASCII));
        assertThat(statusLine(s)).startsWith("HTTP/1.1 2");
      }
      for (int i = 0; i < 2 * threads; i++) {
        assertThat(fx.repo.backend().records().read("slow/body" + i)).map(b -> new String(b, StandardCharsets.UTF_8))
            .contains(record);
      }
    } finally {
      slow.forEach(MemoryBudgetHardeningTest::closeQuietly);
      for (String key : fx.repo.backend().records().list("slow/")) {
        fx.repo.backend().records().delete(key);
      }
    }
  }

  @Test
  void smallBodiesBeyondTheRoomForThemAre503BusyAtOnceAndAbandonedOnesGiveTheirRoomBack() throws Exception {
    // a server of 8 worker threads has room for 32 small bodies of 64 KiB on their way (4 per worker thread)
    int threads = 8;
    URI small = fx.start(ServerOptions.builder().maxThreads(threads).idleTimeout(Duration.ofMinutes(2))).uri();
    int room = (int) (FerryServer.EARLY_BODIES_PER_THREAD * threads);
    for (int round = 0; round < 2; round++) {
      List<Socket> slow = new ArrayList<>();
      try {
        String answer = "";
        // each connection holds its room once the server read its headers; one past the room is refused at once
        for (int i = 0; i < room + 50 && answer.isEmpty(); i++) {
          Socket s = new Socket(small.getHost(), small.getPort());
          slow.add(s);
          s.getOutputStream().write(("PUT /v1/store/records/slow/held-" + round + "-" + i + " HTTP/1.1\r\n"
              + "Host: localhost"
              + "\r\nContent-Length: " + (64 << 10) + "\r\n\r\nab").getBytes(StandardCharsets.US_ASCII));
          if (i >= room) {
            s.setSoTimeout(1_000);
            try {
              answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            } catch (SocketTimeoutException e) {
              // the server had not yet read the headers of all those before: this one took room, and waits
            }
          }
        }
        assertThat(answer).startsWith("HTTP/1.1 503").contains("Retry-After: 1").contains("\"error\":\"busy\"");
        try (Socket s = new Socket(small.getHost(), small.getPort())) {
          s.setSoTimeout(15_000);
          s.getOutputStream().write("GET /v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
              .getBytes(StandardCharsets.US_ASCII));
          assertThat(statusLine(s)).isEqualTo("HTTP/1.1 200");
        }
      } finally {
        // clients going away in the middle of their bodies: their room comes back, and the next round finds it
        slow.forEach(MemoryBudgetHardeningTest::closeQuietly);
      }
      String prefix = " PUT /v1/store/records/slow/held-" + round + "-";
      assertThat(fx.accessLog.await(l -> l.contains(prefix), slow.size())).hasSize(slow.size())
          .allSatisfy(l -> assertThat(l).containsAnyOf(" 400 ", " 503 ").endsWith("ms"));
    }
    String answer = "";
    for (int i = 0; i < 100 && !answer.startsWith("HTTP/1.1 2"); i++) {
      try (Socket s = new Socket(small.getHost(), small.getPort())) {
        s.setSoTimeout(15_000);
        s.getOutputStream().write(("PUT /v1/store/records/slow/after HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2"
            + "\r\nConnection: close\r\n\r\nab").getBytes(StandardCharsets.US_ASCII));
        answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
      }
    }
    assertThat(answer).startsWith("HTTP/1.1 2");
    assertThat(fx.repo.backend().records().list("slow/")).containsExactly("slow/after");
    fx.repo.backend().records().delete("slow/after");
  }

  /**
   * A server whose memory budget holds two decoded chunks of {@code chunkLength} bytes and no more, with an idle
   * timeout longer than a request waits for its share (a slow client keeps a connection from being idle anyway, by
   * taking or sending a little within each idle timeout).
   */
  private static URI smallBudgetServer(int chunkLength) throws Exception {
    long share = (chunkLength + 1023L) & ~1023L;
    return fx.start(ServerOptions.builder().memoryBudget(Math.max(1 << 20, 2 * share)).maxObjectSize(8 << 20)
        .idleTimeout(Duration.ofMinutes(2))).uri();
  }

  /**
   * Four clients reading the decoded chunk three times each; the status of each read (a read whose bytes differ from
   * {@code decoded} counts as -1).
   */
  private static List<Integer> pullDecodedAtOnce(URI base, byte[] decoded) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Future<List<Integer>>> results = new ArrayList<>();
      for (int c = 0; c < 4; c++) {
        results.add(pool.submit(() -> {
          java.net.http.HttpClient own = java.net.http.HttpClient.newBuilder()
              .version(java.net.http.HttpClient.Version.HTTP_1_1).build();
          List<Integer> statuses = new ArrayList<>();
          for (int i = 0; i < 3; i++) {
            HttpResponse<byte[]> r = own.send(get(base, "/v1/store/chunks/" + chunk + "?decoded=1")
                .timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofByteArray());
            statuses.add(r.statusCode() == 200 && !java.util.Arrays.equals(r.body(), decoded) ? -1 : r.statusCode());
          }
          return statuses;
        }));
      }
      List<Integer> all = new ArrayList<>();
      for (Future<List<Integer>> f : results) {
        all.addAll(f.get(120, TimeUnit.SECONDS));
      }
      return all;
    } finally {
      pool.shutdownNow();
    }
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (java.io.IOException e) {
      // closing a test's socket: nothing to do
    }
  }
}
