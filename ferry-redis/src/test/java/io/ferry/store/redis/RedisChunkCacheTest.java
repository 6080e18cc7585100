package io.ferry.store.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.id.ChunkId;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import io.ferry.testkit.FreePort;
import io.ferry.testkit.RedisServer;
import io.ferry.testkit.TestRandom;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the cache itself guarantees, against a real redis-server: hits never touch the store, every part is checked
 * (garbage, a flipped byte, a part of another copy, an evicted part: each dropped and read again from the store,
 * byte-identical), and a Redis that is down, slow or unbounded never fails a read.
 */
class RedisChunkCacheTest {
  /** Payload of one part of 64 KiB. */
  private static final int PART = (64 << 10) - 128;
  private static RedisServer redis;
  @org.junit.jupiter.api.io.TempDir static Path redisDir;

  @RegisterExtension final TestRandom random = new TestRandom();
  @TempDir Path scratch;
  private LocalBackend local;
  private CountingStore counting;
  private final List<AutoCloseable> closing = new ArrayList<>();

  @BeforeAll
  static void startRedis() throws Exception {
    redis = RedisServer.start(redisDir);
  }

  @AfterAll
  static void stopRedis() {
    if (redis != null) {
      redis.close();
    }
  }

  @BeforeEach
  void openStore() throws IOException {
    local = LocalBackend.open(scratch.resolve("store"), StoreOptions.createIfMissing());
    counting = new CountingStore(local.chunks());
  }

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable c : closing) {
      c.close();
    }
    local.close();
  }

  /**
   * A cache over the counting store, with {@code more} settings. Its commands wait 10 s unless the test sets {@code
   * redis.timeout} (the tests of timeouts do): with the default of 1 s, a stall of Redis or of the test on a loaded
   * machine timed a command out, which turns the cache off with a warning and sends reads to the store, and the tests
   * that count what came from Redis or expect no warning failed (Redis paused 1.5 s at a time did that).
   */
  private RedisChunkCache cache(String uri, Warnings w, String... more) throws IOException {
    Map<String, String> s = new java.util.HashMap<>(Map.of("redis.uri", uri, "redis.part-size", "64k",
        "redis.timeout", "10s"));
    for (int i = 0; i < more.length; i += 2) {
      s.put(more[i], more[i + 1]);
    }
    RedisChunkCache c = RedisChunkCache.open(new Unclosed(counting), CacheSettings.fromSettings(s), w);
    closing.add(c);
    return c;
  }

  private byte[] object(int n) throws IOException {
    byte[] c = random.bytes(n);
    local.chunks().put(ChunkId.of(c), ByteBuffer.wrap(c));
    return c;
  }

  private static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  /** Waits until every part of the object is in Redis. */
  private static void awaitCached(RedisServer server, RedisChunkCache c, ChunkId id, int parts) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    for (int i = 0; i < parts; i++) {
      while (server.getBytes(c.partKey(id, i)) == null) {
        assertThat(System.nanoTime()).as("part %d of %s cached within 20 s", i, id).isLessThan(deadline);
        Thread.onSpinWait();
      }
    }
  }

  /**
   * The bytes counted as served from the cache are the bytes Redis sent: a frame's header read and then its payload
   * (as core reads a chunk) fetch the first part once, and the part reused from the thread's memory was counted again,
   * so that 'ferry cache stats' gave about twice the bytes a pull had read.
   */
  @Test
  void aPartReusedFromMemoryIsNotCountedAsBytesFromTheCacheAgain() throws Exception {
    RedisChunkCache c = cache(redis.uri(), new Warnings());
    byte[] content = object(2 * PART);
    ChunkId id = ChunkId.of(content);
    c.get(id);
    awaitCached(redis, c, id, 2);
    RedisChunkCache fresh = cache(redis.uri(), new Warnings());
    assertThat(bytes(fresh.read(id, 0, 16))).isEqualTo(java.util.Arrays.copyOf(content, 16));
    assertThat(bytes(fresh.read(id, 16, content.length - 16)))
        .isEqualTo(java.util.Arrays.copyOfRange(content, 16, content.length));
    assertThat(fresh.counters().bytesFromCache()).as("each part's bytes once").isEqualTo(content.length);
    assertThat(fresh.counters().bytesFromStore()).isZero();
  }

  @Test
  void aSecondReadIsServedFromRedisWithoutTouchingTheStore() throws Exception {
    Warnings w = new Warnings();
    RedisChunkCache c = cache(redis.uri(), w);
    byte[] content = object(5 * PART + 1234);
    ChunkId id = ChunkId.of(content);
    assertThat(bytes(c.get(id))).isEqualTo(content);
    assertThat(counting.reads.get()).as("first read goes to the store").isPositive();
    awaitCached(redis, c, id, 6);
    counting.reset();
    assertThat(bytes(c.get(id))).isEqualTo(content);
    for (int i = 0; i < 30; i++) {
      int off = random.random().nextInt(content.length);
      int len = random.random().nextInt(content.length - off) + 1;
      assertThat(bytes(c.read(id, off, len))).isEqualTo(java.util.Arrays.copyOfRange(content, off, off + len));
      ByteBuffer dst = ByteBuffer.allocateDirect(len);
      c.readInto(id, off, dst);
      assertThat(bytes(dst.flip())).isEqualTo(java.util.Arrays.copyOfRange(content, off, off + len));
    }
    assertThat(counting.reads.get()).as("reads that reached the store once cached").isZero();
    assertThat(c.counters().hits()).isPositive();
    assertThat(c.counters().partsWritten()).isEqualTo(6);
    assertThat(w.warnings).isEmpty();
  }

  @Test
  void garbageFlippedBytesAndForeignPartsAreDroppedAndReadFromTheStore() throws Exception {
    Warnings w = new Warnings();
    RedisChunkCache c = cache(redis.uri(), w);
    byte[] content = object(4 * PART);
    ChunkId id = ChunkId.of(content);
    c.get(id);
    awaitCached(redis, c, id, 4);
    // part 0: garbage; part 1: one payload byte flipped; part 2: a well-formed part of an object of another size
    redis.command("SET".getBytes(), c.partKey(id, 0).getBytes(), random.bytes(PART + 60));
    byte[] flipped = redis.getBytes(c.partKey(id, 1));
    flipped[60 + 777] ^= 0x10;
    redis.command("SET".getBytes(), c.partKey(id, 1).getBytes(), flipped);
    ByteBuffer payload = ByteBuffer.wrap(content, 2 * PART, PART);
    ByteBuffer foreign = RedisChunkCache.header(id, PART, 2, content.length + 1L, payload);
    byte[] value = new byte[60 + PART];
    foreign.get(value, 0, 60);
    payload.duplicate().get(value, 60, PART);
    redis.command("SET".getBytes(), c.partKey(id, 2).getBytes(), value);
    counting.reset();
    // a fresh cache instance, so that no thread's last part hides what Redis holds
    RedisChunkCache fresh = cache(redis.uri(), w);
    assertThat(bytes(fresh.get(id))).isEqualTo(content);
    assertThat(fresh.counters().dropped()).isEqualTo(3);
    assertThat(counting.bytes.get()).as("bytes re-read from the store: the three bad parts").isEqualTo(3L * PART);
    awaitCached(redis, fresh, id, 4);
    counting.reset();
    RedisChunkCache again = cache(redis.uri(), w);
    assertThat(bytes(again.get(id))).isEqualTo(content);
    assertThat(counting.reads.get()).as("the parts were written again").isZero();
    assertThat(w.warnings).as("one notice for the three bad parts, none once they were written again")
        .singleElement().satisfies(m -> assertThat(m).contains("key " + c.partKey(id, 0) + " held a bad part (magic ")
            .contains("it is dropped and that range is read from " + counting.describe()));
  }

  /**
   * Clients of two part sizes sharing a cache: each drops the other's parts, saying so in the setting's words (it gave
   * the payload bytes of a part, 65408 for {@code 64k}), whichever part size is the larger (a larger part was called
   * a value longer than a part).
   */
  @Test
  void aPartOfAnotherPartSizeIsNamedWithThePartSizes() throws Exception {
    byte[] content = object(3 * PART);
    ChunkId id = ChunkId.of(content);
    Warnings small = new Warnings();
    RedisChunkCache c = cache(redis.uri(), small);
    c.get(id);
    awaitCached(redis, c, id, 3);
    Warnings large = new Warnings();
    RedisChunkCache big = cache(redis.uri(), large, "redis.part-size", "128k");
    assertThat(bytes(big.get(id))).isEqualTo(content);
    assertThat(large.warnings).singleElement().satisfies(m -> assertThat(m).contains("key " + c.partKey(id, 0)
        + " held a bad part (written by a client with redis.part-size 64k, this one uses 128k"));
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (!String.valueOf((128 << 10) - 128 + 60).equals(redis.command("STRLEN", c.partKey(id, 0)))) {
      assertThat(System.nanoTime()).as("the larger part written within 20 s").isLessThan(deadline);
      Thread.onSpinWait();
    }
    RedisChunkCache again = cache(redis.uri(), small);
    assertThat(bytes(again.get(id))).isEqualTo(content);
    assertThat(small.warnings).singleElement().satisfies(m -> assertThat(m).contains("key " + c.partKey(id, 0)
        + " held a bad part (written by a client with redis.part-size 128k, this one uses 64k"));
  }

  @Test
  void aKeyOfAnotherTypeWhereAPartBelongsIsDroppedAndTheCacheStaysOn() throws Exception {
    Warnings w = new Warnings();
    RedisChunkCache c = cache(redis.uri(), w);
    byte[] content = object(3 * PART);
    ChunkId id = ChunkId.of(content);
    c.get(id);
    awaitCached(redis, c, id, 3);
    // a list where part 1 belongs: every GET of it is a WRONGTYPE error, which turned the cache off for every reader
    redis.command("DEL", c.partKey(id, 1));
    redis.command("LPUSH", c.partKey(id, 1), "x");
    counting.reset();
    RedisChunkCache fresh = cache(redis.uri(), w);
    assertThat(bytes(fresh.get(id))).isEqualTo(content);
    assertThat(fresh.counters().dropped()).isEqualTo(1);
    assertThat(counting.bytes.get()).as("re-read from the store: that part").isEqualTo(PART);
    assertThat(w.warnings).as("a notice, no warning: the cache was not given up").singleElement()
        .satisfies(m -> assertThat(m).contains("key " + c.partKey(id, 1)
            + " held a bad part (it is not a string value)"));
    awaitCached(redis, fresh, id, 3);
    counting.reset();
    assertThat(bytes(cache(redis.uri(), w).get(id))).isEqualTo(content);
    assertThat(counting.reads.get()).as("the part was written again in its place").isZero();
  }

  @Test
  void aHugeValueWhereAPartBelongsCostsOnePartToReadAndIsDropped() throws Exception {
    Warnings w = new Warnings();
    RedisChunkCache c = cache(redis.uri(), w);
    byte[] content = object(3 * PART);
    ChunkId id = ChunkId.of(content);
    c.get(id);
    awaitCached(redis, c, id, 3);
    // part 1 made 8 MiB long (a valid part, then zeros): a GET read all of it (a 200 MB value timed out every read of
    // the object and turned the cache off, and was never dropped)
    redis.command("SETRANGE", c.partKey(id, 1), String.valueOf((8 << 20) - 1), "x");
    counting.reset();
    long sentBefore = netOutput();
    RedisChunkCache fresh = cache(redis.uri(), w);
    assertThat(bytes(fresh.get(id))).isEqualTo(content);
    assertThat(netOutput() - sentBefore).as("bytes Redis sent for the read: about three parts").isLessThan(1L << 20);
    assertThat(fresh.counters().dropped()).isEqualTo(1);
    assertThat(counting.bytes.get()).as("re-read from the store: that part").isEqualTo(PART);
    assertThat(w.warnings).singleElement().satisfies(m -> assertThat(m).contains("key " + c.partKey(id, 1)
        + " held a bad part (value longer than a part of " + (PART + 60) + " bytes)"));
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (!String.valueOf(PART + 60).equals(redis.command("STRLEN", fresh.partKey(id, 1)))) {
      assertThat(System.nanoTime()).as("the part written again in its place within 20 s").isLessThan(deadline);
      Thread.onSpinWait();
    }
  }

  /** Redis's {@code total_net_output_bytes}: what it sent to every client so far. */
  private static long netOutput() throws IOException {
    for (String line : redis.command("INFO", "stats").split("\r?\n")) {
      if (line.startsWith("total_net_output_bytes:")) {
        return Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
      }
    }
    throw new AssertionError("no total_net_output_bytes in INFO stats");
  }

  @Test
  void anEvictedPartIsReadFromTheStoreAlone() throws Exception {
    Warnings w = new Warnings();
    RedisChunkCache c = cache(redis.uri(), w);
    byte[] content = object(6 * PART - 5);
    ChunkId id = ChunkId.of(content);
    c.get(id);
    awaitCached(redis, c, id, 6);
    redis.command("DEL", c.partKey(id, 3));
    counting.reset();
    RedisChunkCache fresh = cache(redis.uri(), w);
    assertThat(bytes(fresh.get(id))).isEqualTo(content);
    assertThat(counting.bytes.get()).isEqualTo(PART);
    assertThat(fresh.counters().misses()).isEqualTo(1);
  }

  @Test
  void aColdHerdOfSixteenReadersReadsTheStoreOnce() throws Exception {
    Warnings w = new Warnings();
    byte[] content = object(9 * PART + 100);
    long served = herd(content, w, 4, 4);
    assertThat(w.warnings).isEmpty();
    assertThat(served).as("bytes the store served to 16 cold readers (4 clients of 4 threads) with fill locks")
        .isEqualTo(content.length);

    // the control: without fill locks, two readers held at the store until both are there both read it
    byte[] other = object(9 * PART + 100);
    counting.together = new java.util.concurrent.CountDownLatch(2);
    assertThat(herd(other, w, 2, 1, "redis.fill-wait", "0")).as("bytes the store served without fill locks")
        .isGreaterThanOrEqualTo(2L * other.length);
  }

  /**
   * Fill locks that no fill will ever release (a dead filler, or planted by whoever may write to Redis): the first wait
   * runs its whole {@code redis.fill-wait}, then this cache stops waiting for others' fills, with one notice. Each
   * read waited the whole fill-wait again, part after part: 9 parts read one by one took 9 waits.
   */
  @Test
  void fillLocksThatNeverEndCostOneWaitNotOnePerPart() throws Exception {
    Warnings w = new Warnings();
    byte[] content = object(9 * PART);
    ChunkId id = ChunkId.of(content);
    // a wait of 1 s: nine of them take 9 s, one leaves 3.5 s of the bound below to a loaded machine's stalls (with
    // 400 ms, a pause of Redis of 1.5 s failed the test)
    RedisChunkCache c = cache(redis.uri(), w, "redis.fill-wait", "1s", "redis.timeout", "5s");
    for (int k = 0; k < 9; k++) {
      redis.command("SET", c.fillKey(id, k), "filling", "PX", "600000");
    }
    long start = System.nanoTime();
    for (int k = 0; k < 9; k++) {
      ByteBuffer b = c.read(id, (long) k * PART, 10);
      assertThat(bytes(b)).isEqualTo(java.util.Arrays.copyOfRange(content, k * PART, k * PART + 10));
    }
    Duration took = Duration.ofNanos(System.nanoTime() - start);
    assertThat(took).as("one wait of 1 s, not nine").isLessThan(Duration.ofMillis(9 * 1000 / 2));
    assertThat(w.warnings).hasSize(1);
    assertThat(w.warnings.get(0)).contains("object " + id).contains("stayed claimed").contains("redis.fill-wait");
  }

  /**
   * {@code clients} cache instances, each with its own connection (as many processes would be), each read by {@code
   * threads} threads, all reading one cold object at the same moment; returns the bytes the store served them.
   */
  private long herd(byte[] content, Warnings w, int clients, int threads, String... settings) throws Exception {
    ChunkId id = ChunkId.of(content);
    List<String> all = new ArrayList<>(List.of(settings));
    // the herd is what is tested, not latency: many clients on a busy test machine may take more than 200 ms
    all.addAll(List.of("redis.timeout", "5s"));
    List<RedisChunkCache> caches = new ArrayList<>();
    for (int i = 0; i < clients; i++) {
      caches.add(cache(redis.uri(), w, all.toArray(String[]::new)));
    }
    counting.reset();
    int readers = clients * threads;
    java.util.concurrent.CyclicBarrier start = new java.util.concurrent.CyclicBarrier(readers);
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(readers);
    try {
      List<java.util.concurrent.Future<byte[]>> got = new ArrayList<>();
      for (int r = 0; r < readers; r++) {
        RedisChunkCache c = caches.get(r % clients);
        got.add(pool.submit(() -> {
          start.await(30, java.util.concurrent.TimeUnit.SECONDS);
          return bytes(c.get(id));
        }));
      }
      for (java.util.concurrent.Future<byte[]> f : got) {
        assertThat(f.get(60, java.util.concurrent.TimeUnit.SECONDS)).isEqualTo(content);
      }
    } finally {
      pool.shutdownNow();
    }
    return counting.bytes.get();
  }

  /**
   * A cache URI naming a port where another protocol answers (an HTTP server, an S3 endpoint) is bypassed with a
   * warning that says so; it said only Lettuce's "Invalid first byte: 72 (H) at buffer index 1 decoding using null".
   */
  @Test
  void aPortThatDoesNotSpeakRedisIsNamedAsSuch() throws Exception {
    try (java.net.ServerSocket http = new java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
      Thread answering = new Thread(() -> {
        while (!http.isClosed()) {
          try (java.net.Socket s = http.accept()) {
            s.getOutputStream().write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
                .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
          } catch (IOException closed) {
            // the test ended, or the client went away
          }
        }
      });
      answering.setDaemon(true);
      answering.start();
      Warnings w = new Warnings();
      RedisChunkCache c = cache("redis://127.0.0.1:" + http.getLocalPort(), w);
      byte[] content = object(2 * PART);
      assertThat(bytes(c.get(ChunkId.of(content)))).isEqualTo(content);
      assertThat(w.warnings).singleElement().satisfies(m -> assertThat(m).contains("cannot be reached")
          .contains("127.0.0.1:" + http.getLocalPort() + " does not answer in the Redis protocol"));
    }
  }

  /**
   * A TLS URI for a server without TLS, and a server that needs a password none was given for, are said to be that:
   * the warnings said only "Connection initialization timed out after 1 second(s)" and the server's "NOAUTH HELLO
   * must be called with the client already authenticated...". A missing or wrong password is a cache that "cannot be
   * used", with what to check; it was one that "cannot be reached", which sent users looking for a network fault, and
   * a wrong one had no hint.
   */
  @Test
  void aTlsUriForAPlainServerAndAMissingPasswordAreNamed() throws Exception {
    Warnings tls = new Warnings();
    byte[] content = object(2 * PART);
    ChunkId id = ChunkId.of(content);
    // neither cache here ever reaches its server: a short timeout only keeps their closing short
    RedisChunkCache c = cache("rediss://127.0.0.1:" + redis.port(), tls, "redis.connect-timeout", "1s",
        "redis.timeout", "1s");
    assertThat(bytes(c.get(id))).isEqualTo(content);
    assertThat(tls.warnings).singleElement().satisfies(m -> assertThat(m).contains("cannot be reached")
        .contains("the URI asks for TLS").contains("redis://127.0.0.1:" + redis.port()));
    try (RedisServer locked = RedisServer.start(scratch.resolve("locked"))) {
      locked.command("CONFIG", "SET", "requirepass", "s3cret");
      Warnings noPassword = new Warnings();
      assertThat(bytes(cache(locked.uri(), noPassword, "redis.timeout", "1s").get(id))).isEqualTo(content);
      assertThat(noPassword.warnings).singleElement().satisfies(m -> assertThat(m).contains("cannot be used")
          .contains("the server needs a password"));
      assertThatThrownBy(() -> RedisCache.stats(CacheSettings.of(locked.uri()))).isInstanceOf(IOException.class)
          .hasMessageContaining("cannot be used").hasMessageContaining("the server needs a password");
      // a wrong password: the server answered, and refused it
      String wrong = "redis://:n0pe@127.0.0.1:" + locked.port();
      Warnings wrongPassword = new Warnings();
      assertThat(bytes(cache(wrong, wrongPassword, "redis.timeout", "1s").get(id))).isEqualTo(content);
      assertThat(wrongPassword.warnings).singleElement().satisfies(m -> assertThat(m).contains("cannot be used")
          .contains("WRONGPASS").contains("not the server's").contains("percent-encoded").doesNotContain("n0pe"));
      assertThatThrownBy(() -> RedisCache.stats(CacheSettings.of(wrong))).isInstanceOf(IOException.class)
          .hasMessageContaining("cannot be used").hasMessageContaining("not the server's");
    }
  }

  /**
   * A database the server does not have ({@code /99} of 16) is named as such, for reads and for the stats: it was said
   * to be a server that "cannot be reached", which sent users to look for a network fault.
   */
  @Test
  void aDatabaseTheServerDoesNotHaveIsNamed() throws Exception {
    Warnings w = new Warnings();
    byte[] content = object(2 * PART);
    ChunkId id = ChunkId.of(content);
    String uri = redis.uri() + "/99";
    assertThat(bytes(cache(uri, w).get(id))).isEqualTo(content);
    assertThat(w.warnings).singleElement().satisfies(m -> assertThat(m).contains("cannot be used")
        .doesNotContain("cannot be reached").contains("the server has no database 99").contains("'databases'"));
    assertThatThrownBy(() -> RedisCache.stats(CacheSettings.of(uri))).isInstanceOf(IOException.class)
        .hasMessageContaining("cannot be used").hasMessageContaining("the server has no database 99");
  }

  /**
   * A user who may read and write parts but not record the store and its counters (SADD, HINCRBY) is served and fills
   * the cache, with one notice that 'ferry cache stats' does not count it: the stats showed no such store, or none of
   * its reads, and nothing said why.
   */
  @Test
  void aUserWhoMayNotRecordTheCountersIsToldOnce() throws Exception {
    redis.command("ACL", "SETUSER", "nostats", "on", ">pw", "~*", "+@all", "-hincrby");
    try {
      Warnings w = new Warnings();
      RedisChunkCache c = cache("redis://nostats:pw@127.0.0.1:" + redis.port(), w);
      byte[] content = object(2 * PART);
      ChunkId id = ChunkId.of(content);
      assertThat(bytes(c.get(id))).isEqualTo(content);
      awaitCached(redis, c, id, 2);
      assertThat(bytes(c.get(id))).isEqualTo(content);
      c.close();
      assertThat(w.warnings).singleElement().satisfies(m -> assertThat(m).contains("may not record the cache's"
          + " counters").contains("NOPERM").contains("hincrby").contains("grant SADD and HINCRBY"));
    } finally {
      redis.command("ACL", "DELUSER", "nostats");
    }
  }

  /**
   * A user who may read and write parts but not DEL fill locks, or not test them (EXISTS), is told once, when the
   * cache opens, naming the commands, and fills the cache without fill locks. Without DEL each lock stayed for
   * redis.fill-wait after its part was written, so a reader that missed the part again (evicted) waited for a fill
   * that was over; without EXISTS the first wait for another reader's fill failed and turned the cache off for
   * redis.retry-after, reads included.
   */
  @Test
  void aUserWhoMayNotDeleteOrTestFillLocksFillsWithoutThem() throws Exception {
    redis.command("ACL", "SETUSER", "nodel", "on", ">pw", "~*", "+@all", "-del");
    redis.command("ACL", "SETUSER", "noexists", "on", ">pw", "~*", "+@all", "-exists");
    try {
      Warnings noDel = new Warnings();
      RedisChunkCache c = cache("redis://nodel:pw@127.0.0.1:" + redis.port(), noDel, "redis.fill-wait", "60s");
      // a notice, not a warning: the cache stays in use ('ferry warm' ends at once on a warning at open)
      assertThat(noDel.notices).as("said when the cache opens").singleElement().satisfies(m -> assertThat(m)
          .contains("NOPERM").contains("DEL").contains("without fill locks").doesNotContain(":pw@"));
      byte[] content = object(2 * PART);
      ChunkId id = ChunkId.of(content);
      assertThat(bytes(c.get(id))).isEqualTo(content);
      awaitCached(redis, c, id, 2);
      assertThat(redis.getBytes(c.fillKey(id, 0))).as("a fill lock left behind for 60 s").isNull();
      assertThat(noDel.warnings).hasSize(1);

      Warnings noExists = new Warnings();
      RedisChunkCache e = cache("redis://noexists:pw@127.0.0.1:" + redis.port(), noExists);
      assertThat(noExists.notices).singleElement().satisfies(m -> assertThat(m).contains("NOPERM")
          .contains("EXISTS").contains("without fill locks"));
      byte[] other = object(2 * PART);
      ChunkId otherId = ChunkId.of(other);
      redis.command("SET", e.fillKey(otherId, 0), "filling", "PX", "60000");
      counting.reset();
      assertThat(bytes(e.get(otherId))).isEqualTo(other);
      assertThat(e.active()).as("the cache still serves reads").isTrue();
      assertThat(noExists.warnings).hasSize(1);
      assertThat(counting.reads.get()).isPositive();
    } finally {
      redis.command("ACL", "DELUSER", "nodel", "noexists");
    }
  }

  /**
   * A user who may not DEL cannot drop a bad part, and was told "it is dropped" all the same. One who may write
   * writes it over with the range read from the store, and is told so; one who may not write either leaves it in
   * Redis, and is told that it stays and that each read of that range goes to the store.
   */
  @Test
  void aBadPartThatThisUserMayNotDeleteIsSaidToBeWrittenOverOrToStay() throws Exception {
    redis.command("ACL", "SETUSER", "nodelpart", "on", ">pw", "~*", "+@all", "-del");
    redis.command("ACL", "SETUSER", "nodelread", "on", ">pw", "~*", "+@all", "-del", "-set");
    try {
      RedisChunkCache c = cache(redis.uri(), new Warnings());
      byte[] content = object(2 * PART);
      ChunkId id = ChunkId.of(content);
      c.get(id);
      awaitCached(redis, c, id, 2);
      byte[] garbage = random.bytes(PART + 60);
      redis.command("SET".getBytes(), c.partKey(id, 0).getBytes(), garbage);

      Warnings readOnly = new Warnings();
      RedisChunkCache reader = cache("redis://nodelread:pw@127.0.0.1:" + redis.port(), readOnly);
      assertThat(bytes(reader.get(id))).isEqualTo(content);
      assertThat(readOnly.notices).anySatisfy(m -> assertThat(m).contains("key " + c.partKey(id, 0)
          + " held a bad part").contains("may neither run DEL nor write, so it stays in Redis")
          .doesNotContain("it is dropped"));
      assertThat(redis.getBytes(c.partKey(id, 0))).as("the bad part is still there").isEqualTo(garbage);

      Warnings noDel = new Warnings();
      RedisChunkCache writer = cache("redis://nodelpart:pw@127.0.0.1:" + redis.port(), noDel);
      assertThat(bytes(writer.get(id))).isEqualTo(content);
      assertThat(noDel.notices).anySatisfy(m -> assertThat(m).contains("key " + c.partKey(id, 0)
          + " held a bad part").contains("may not run DEL, so it is not dropped but written over")
          .doesNotContain("it is dropped"));
      awaitWrittenOver(c.partKey(id, 0), garbage, "the bad part");
      counting.reset();
      assertThat(bytes(cache(redis.uri(), new Warnings()).get(id))).isEqualTo(content);
      assertThat(counting.reads.get()).as("the part was written over with the right bytes").isZero();
    } finally {
      redis.command("ACL", "DELUSER", "nodelpart", "nodelread");
    }
  }

  /**
   * A user whose ACL forbids reading parts is told so once, when the cache opens (it was at the first read, after
   * 'ferry warm' had started); a user who may read but not write is served from the cache, with one warning that it
   * will not fill it: each refused write (a fill lock's SET first) turned the cache off for redis.retry-after, reads
   * included, so such a user read everything from the store.
   */
  @Test
  void aUserWhoMayNotReadIsToldAtOnceAndOneWhoMayNotWriteStillReads() throws Exception {
    byte[] content = object(3 * PART);
    ChunkId id = ChunkId.of(content);
    RedisChunkCache filler = cache(redis.uri(), new Warnings());
    filler.get(id);
    awaitCached(redis, filler, id, 3);
    redis.command("ACL", "SETUSER", "noread", "on", ">pw", "~*", "+@all", "-getrange");
    redis.command("ACL", "SETUSER", "readonly", "on", ">pw", "~*", "+@all", "-set");
    try {
      Warnings noRead = new Warnings();
      RedisChunkCache c = cache("redis://noread:pw@127.0.0.1:" + redis.port(), noRead);
      assertThat(noRead.warnings).as("said when the cache opens").singleElement().satisfies(m -> assertThat(m)
          .contains("cannot be used").contains("NOPERM").contains("getrange").doesNotContain(":pw@"));
      assertThat(bytes(c.get(id))).isEqualTo(content);
      assertThat(noRead.warnings).hasSize(1);

      Warnings readOnly = new Warnings();
      RedisChunkCache r = cache("redis://readonly:pw@127.0.0.1:" + redis.port(), readOnly);
      assertThat(readOnly.warnings).singleElement().satisfies(m -> assertThat(m)
          .contains("refuses this user's writes").contains("NOPERM").contains("will not fill it"));
      counting.reset();
      assertThat(bytes(r.get(id))).isEqualTo(content);
      assertThat(counting.reads.get()).as("reads of the store: the parts were in the cache").isZero();
      byte[] other = object(2 * PART);
      assertThat(bytes(r.get(ChunkId.of(other)))).isEqualTo(other);
      assertThat(r.counters().partsWritten()).isZero();
      counting.reset();
      assertThat(bytes(r.get(id))).isEqualTo(content);
      assertThat(counting.reads.get()).as("reads of the store after a miss, which wrote nothing").isZero();
      assertThat(r.active()).isTrue();
      assertThat(readOnly.warnings).hasSize(1);

      // nor CONFIG: that the server's eviction cannot be checked does not matter to a cache that does not write, and
      // was a second message
      redis.command("ACL", "SETUSER", "reader", "on", ">pw", "~*", "+@all", "-set", "-config");
      Warnings reader = new Warnings();
      RedisChunkCache rd = cache("redis://reader:pw@127.0.0.1:" + redis.port(), reader);
      assertThat(bytes(rd.get(id))).isEqualTo(content);
      assertThat(reader.warnings).singleElement().satisfies(m -> assertThat(m).contains("refuses this user's writes"));
    } finally {
      redis.command("ACL", "DELUSER", "noread", "readonly", "reader");
    }
  }

  /**
   * A server that refuses writes midway while it still serves reads (here a master turned replica, as after a failover:
   * READONLY; likewise MISCONF when it cannot save, OOM, NOPERM) stops the cache's writes for retry-after with one
   * warning, and reads go on from it: the refused write turned the cache off for every read too, so a warm cache sent
   * every read to the store for that long.
   */
  @Test
  void aServerThatRefusesWritesMidwayStillServesReads() throws Exception {
    Warnings w = new Warnings();
    RedisChunkCache c = cache(redis.uri(), w);
    byte[] content = object(3 * PART);
    ChunkId id = ChunkId.of(content);
    c.get(id);
    awaitCached(redis, c, id, 3);
    int closedPort;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      closedPort = s.getLocalPort();
    }
    redis.command("REPLICAOF", "127.0.0.1", String.valueOf(closedPort));
    try {
      byte[] other = object(2 * PART);
      assertThat(bytes(c.get(ChunkId.of(other)))).isEqualTo(other);
      assertThat(w.warnings).singleElement().satisfies(m -> assertThat(m).contains("refused a write")
          .contains("READONLY").contains("goes on reading from it"));
      counting.reset();
      assertThat(bytes(c.get(id))).isEqualTo(content);
      assertThat(counting.reads.get()).as("reads of the store: the parts were in the cache").isZero();
      assertThat(c.active()).isTrue();
      assertThat(bytes(c.get(ChunkId.of(other)))).isEqualTo(other);
      assertThat(w.warnings).as("one warning").hasSize(1);
    } finally {
      redis.command("REPLICAOF", "NO", "ONE");
    }
  }

  /**
   * A cluster URI for a server that is no cluster is one warning on one line, with the server's reason: the cluster
   * client's message spread it over five lines ("Cannot retrieve cluster partitions from [...]", a blank line,
   * "Details:", then the reason).
   */
  @Test
  void aClusterUriForAServerThatIsNoClusterIsOneLine() throws Exception {
    Warnings w = new Warnings();
    byte[] content = object(2 * PART);
    RedisChunkCache c = cache("redis-cluster://127.0.0.1:" + redis.port(), w);
    assertThat(bytes(c.get(ChunkId.of(content)))).isEqualTo(content);
    assertThat(w.warnings).singleElement().satisfies(m -> assertThat(m).contains("cluster support disabled")
        .doesNotContain("\n").doesNotContain("\t"));
  }

  /**
   * A server that speaks TLS: reached with {@code rediss://} and {@code ?verifyPeer=none} (its certificate is
   * self-signed), it is used; with plain {@code redis://}, or with its certificate checked, the warning says which of
   * the two is the likely cause (it said only "Connection reset" and "unable to find valid certification path to
   * requested target").
   */
  @Test
  void aTlsServerIsUsedWithRedissAndAMismatchIsNamed() throws Exception {
    Path certs = scratch.resolve("certs");
    java.nio.file.Files.createDirectories(certs);
    Path ks = certs.resolve("server.p12");
    Process keytool = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
        "-genkeypair", "-alias", "redis", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=localhost", "-validity",
        "2", "-storetype", "PKCS12", "-keystore", ks.toString(), "-storepass", "changeit").redirectErrorStream(true)
        .start();
    keytool.getInputStream().readAllBytes();
    assertThat(keytool.waitFor()).isZero();
    java.security.KeyStore store = java.security.KeyStore.getInstance("PKCS12");
    try (java.io.InputStream in = java.nio.file.Files.newInputStream(ks)) {
      store.load(in, "changeit".toCharArray());
    }
    java.util.Base64.Encoder pem = java.util.Base64.getMimeEncoder(64, "\n".getBytes());
    java.nio.file.Files.writeString(certs.resolve("key.pem"), "-----BEGIN PRIVATE KEY-----\n"
        + pem.encodeToString(store.getKey("redis", "changeit".toCharArray()).getEncoded())
        + "\n-----END PRIVATE KEY-----\n");
    java.nio.file.Files.writeString(certs.resolve("cert.pem"), "-----BEGIN CERTIFICATE-----\n"
        + pem.encodeToString(store.getCertificate("redis").getEncoded()) + "\n-----END CERTIFICATE-----\n");
    int tlsPort = FreePort.pick();
    try (RedisServer tls = RedisServer.start(scratch.resolve("tls"), "--tls-port", Integer.toString(tlsPort),
        "--tls-cert-file", certs.resolve("cert.pem").toString(), "--tls-key-file", certs.resolve("key.pem").toString(),
        "--tls-auth-clients", "no")) {
      byte[] content = object(2 * PART);
      ChunkId id = ChunkId.of(content);
      Warnings ok = new Warnings();
      RedisChunkCache c = cache("rediss://127.0.0.1:" + tlsPort + "?verifyPeer=none", ok);
      assertThat(bytes(c.get(id))).isEqualTo(content);
      awaitCached(tls, c, id, 2);
      assertThat(ok.warnings).isEmpty();

      Warnings plain = new Warnings();
      assertThat(bytes(cache("redis://127.0.0.1:" + tlsPort, plain).get(id))).isEqualTo(content);
      assertThat(plain.warnings).singleElement().satisfies(m -> assertThat(m).contains("cannot be reached")
          .contains("does not answer in the Redis protocol").contains("takes rediss://127.0.0.1:" + tlsPort));
      Warnings checked = new Warnings();
      assertThat(bytes(cache("rediss://127.0.0.1:" + tlsPort, checked).get(id))).isEqualTo(content);
      assertThat(checked.warnings).singleElement().satisfies(m -> assertThat(m).contains("cannot be reached")
          .contains("?verifyPeer=none"));
    }
  }

  /**
   * A port where a server accepts and closes at once, without a byte (another protocol's server that takes nothing
   * it does not understand, or a TLS one): the warning said only "Connection closed prematurely", or, when the close
   * came earlier still on a loaded machine, "RedisHandshakeHandler not registered".
   */
  @Test
  void aPortThatClosesAtOnceIsNamedAsNoRedis() throws Exception {
    try (java.net.ServerSocket closing = new java.net.ServerSocket(0, 50,
        java.net.InetAddress.getLoopbackAddress())) {
      Thread closer = new Thread(() -> {
        while (!closing.isClosed()) {
          try {
            closing.accept().close();
          } catch (IOException closed) {
            // the test ended
          }
        }
      });
      closer.setDaemon(true);
      closer.start();
      Warnings w = new Warnings();
      byte[] content = object(2 * PART);
      RedisChunkCache c = cache("redis://127.0.0.1:" + closing.getLocalPort(), w);
      assertThat(bytes(c.get(ChunkId.of(content)))).isEqualTo(content);
      assertThat(w.warnings).singleElement().satisfies(m -> assertThat(m).contains("cannot be reached")
          .contains("127.0.0.1:" + closing.getLocalPort() + " does not answer in the Redis protocol"));
    }
  }

  @Test
  void aRedisThatIsDownFromTheStartIsBypassedWithOneWarning() throws Exception {
    Warnings w = new Warnings();
    // nothing listens there, and no other process is handed it meanwhile (it lies below the ephemeral range)
    int closedPort = FreePort.pick();
    RedisChunkCache c = cache("redis://127.0.0.1:" + closedPort, w);
    byte[] content = object(3 * PART);
    ChunkId id = ChunkId.of(content);
    for (int i = 0; i < 5; i++) {
      assertThat(bytes(c.get(id))).isEqualTo(content);
    }
    assertThat(w.warnings).hasSize(1);
    assertThat(w.warnings.get(0)).contains("127.0.0.1:" + closedPort).contains("cannot be reached")
        .contains("Connection refused").doesNotContain("<unresolved>");
    assertThat(c.active()).isFalse();
    // cache stats says why too (it said only "Unable to connect to 127.0.0.1/<unresolved>:PORT")
    assertThatThrownBy(() -> RedisCache.stats(CacheSettings.of("redis://127.0.0.1:" + closedPort)))
        .isInstanceOf(IOException.class)
        .hasMessageStartingWith("cache redis://127.0.0.1:" + closedPort + " cannot be reached: ")
        .hasMessageContaining("127.0.0.1:" + closedPort).hasMessageContaining("Connection refused")
        .hasMessageNotContaining("<unresolved>");
  }

  @Test
  void aKilledRedisFailsNoReadAndWarnsOnce() throws Exception {
    RedisServer own = RedisServer.start(scratch.resolve("own"));
    try {
      Warnings w = new Warnings();
      RedisChunkCache c = cache(own.uri(), w);
      byte[] content = object(8 * PART);
      ChunkId id = ChunkId.of(content);
      c.get(id);
      awaitCached(own, c, id, 8);
      own.kill();
      RedisChunkCache fresh = cache(own.uri(), w);
      for (int i = 0; i < 5; i++) {
        assertThat(bytes(c.get(id))).isEqualTo(content);
      }
      assertThat(bytes(fresh.get(id))).isEqualTo(content);
      assertThat(w.warnings).as("one warning per cache instance").hasSize(2);
      assertThat(c.counters().bypassed()).isPositive();
    } finally {
      own.close();
    }
  }

  @Test
  void aRedisThatComesBackIsUsedAgainAfterTheRetryPeriod() throws Exception {
    RedisServer own = RedisServer.start(scratch.resolve("own"));
    int port = own.port();
    Warnings w = new Warnings();
    try {
      RedisChunkCache c = cache(own.uri(), w, "redis.retry-after", "1s", "redis.timeout", "2s");
      byte[] content = object(2 * PART);
      ChunkId id = ChunkId.of(content);
      c.get(id);
      awaitCached(own, c, id, 2);
      own.kill();
      assertThat(bytes(c.get(id))).isEqualTo(content);
      assertThat(w.warnings).hasSize(1);
      own = RedisServer.startOn(port, scratch.resolve("own"));
      // the new server is empty: once the cache is used again, a read misses and fills it
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (w.recoveries.isEmpty()) {
        assertThat(System.nanoTime()).as("the cache answered again within 30 s").isLessThan(deadline);
        assertThat(bytes(c.get(id))).isEqualTo(content);
        Thread.onSpinWait();
      }
      assertThat(bytes(c.get(id))).isEqualTo(content);
      awaitCached(own, c, id, 2);
      assertThat(w.warnings).as("no second warning for one outage").hasSize(1);
      assertThat(c.active()).isTrue();
    } finally {
      own.close();
    }
  }

  @Test
  void aSlowRedisTimesOutAndReadsGoToTheStore() throws Exception {
    RedisServer own = RedisServer.start(scratch.resolve("own"));
    try {
      Warnings w = new Warnings();
      // filled with a generous timeout (a cold JVM), then read with 200 ms
      RedisChunkCache c = cache(own.uri(), w, "redis.timeout", "5s");
      byte[] content = object(2 * PART);
      ChunkId id = ChunkId.of(content);
      c.get(id);
      awaitCached(own, c, id, 2);
      RedisChunkCache fresh = cache(own.uri(), w, "redis.timeout", "200ms");
      counting.reset();
      assertThat(bytes(fresh.get(id))).isEqualTo(content);
      assertThat(counting.reads.get()).as("served from Redis before the pause").isZero();
      assertThat(w.warnings).isEmpty();
      own.command("CLIENT", "PAUSE", "5000", "ALL");
      long t0 = System.nanoTime();
      assertThat(bytes(fresh.get(id))).isEqualTo(content);
      assertThat(bytes(fresh.get(id))).isEqualTo(content);
      assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("two reads while Redis is paused")
          .isLessThan(Duration.ofSeconds(3));
      assertThat(w.warnings).hasSize(1).allSatisfy(m -> assertThat(m).contains("did not answer within 200 ms"));
    } finally {
      own.close();
    }
  }

  @Test
  void anUnboundedRedisIsReadButNeverFilled() throws Exception {
    RedisServer own = RedisServer.start(scratch.resolve("own"), "--maxmemory", "0", "--maxmemory-policy",
        "noeviction");
    try {
      Warnings w = new Warnings();
      RedisChunkCache c = cache(own.uri(), w);
      byte[] content = object(2 * PART);
      ChunkId id = ChunkId.of(content);
      assertThat(bytes(c.get(id))).isEqualTo(content);
      assertThat(bytes(c.get(id))).isEqualTo(content);
      assertThat(w.warnings).singleElement().satisfies(m -> assertThat(m).contains("maxmemory is 0")
          .contains("noeviction").contains("will not fill it"));
      assertThat(own.command("DBSIZE")).isEqualTo("0");
      assertThat(c.counters().partsWritten()).isZero();
    } finally {
      own.close();
    }
  }

  /**
   * A server replaced at its address by one that never evicts, while a cache uses it (the client reconnects by
   * itself): the cache stops filling it, with the warning a cache opened on it gives, and reads stay byte-identical.
   * Eviction was checked only when the cache connected, so the new server was filled as long as the process ran.
   */
  @Test
  void aServerReplacedByOneThatNeverEvictsIsNoLongerFilled() throws Exception {
    RedisServer first = RedisServer.start(scratch.resolve("first"));
    int port = first.port();
    RedisServer second = null;
    try {
      Warnings w = new Warnings();
      RedisChunkCache c = cache(first.uri(), w, "redis.retry-after", "100ms", "redis.timeout", "2s");
      byte[] a = object(2 * PART);
      assertThat(bytes(c.get(ChunkId.of(a)))).isEqualTo(a);
      awaitCached(first, c, ChunkId.of(a), 2);
      first.kill();
      second = RedisServer.startOn(port, scratch.resolve("second"), "--maxmemory", "0", "--maxmemory-policy",
          "noeviction");
      long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
      while (w.warnings.stream().noneMatch(m -> m.contains("does not evict"))) {
        assertThat(System.nanoTime()).as("the replacement found within 20 s: %s", w.warnings).isLessThan(deadline);
        byte[] b = object(2 * PART);
        assertThat(bytes(c.get(ChunkId.of(b)))).isEqualTo(b);
      }
      long written = c.counters().partsWritten();
      for (int i = 0; i < 3; i++) {
        byte[] b = object(2 * PART);
        assertThat(bytes(c.get(ChunkId.of(b)))).isEqualTo(b);
      }
      assertThat(c.counters().partsWritten()).as("parts written once the server never evicts").isEqualTo(written);
      assertThat(w.warnings.stream().filter(m -> m.contains("does not evict"))).hasSize(1);
    } finally {
      first.kill();
      if (second != null) {
        second.close();
      }
    }
  }

  /**
   * A server whose {@code maxmemory} is smaller than one part can never hold a part: it evicts every key, then refuses
   * the write with OOM. The one warning says so, naming the part's size and maxmemory (it gave only the server's
   * "OOM command not allowed when used memory > 'maxmemory'", which reads as a full cache that eviction will fix).
   */
  @Test
  void aPartLargerThanMaxmemoryIsSaidOnceNamingBothSizes() throws Exception {
    RedisServer own = RedisServer.start(scratch.resolve("own"), "--maxmemory", "32kb", "--maxmemory-policy",
        "allkeys-lru");
    try {
      Warnings w = new Warnings();
      RedisChunkCache c = cache(own.uri(), w, "redis.retry-after", "1ms");
      for (int i = 0; i < 3; i++) {
        byte[] content = object(2 * PART);
        assertThat(bytes(c.get(ChunkId.of(content)))).isEqualTo(content);
      }
      c.close();
      assertThat(w.warnings).singleElement().satisfies(m -> assertThat(m).contains("OOM")
          .contains("maxmemory of 32768 bytes is smaller than one part of " + (PART + RedisChunkCache.HEADER)
          + " bytes (redis.part-size 65536)").contains("can never be cached")
          .contains("tries writing again in 1 ms"));
    } finally {
      own.close();
    }
  }

  /**
   * A server whose {@code maxmemory} holds one part but not its own memory (its used_memory_startup, about 0.9 MB for
   * an empty Redis) plus one part can never hold a part either: it evicts every key, then refuses with OOM. The one
   * warning says so and what to raise maxmemory above; it was the generic warning of a refused write, which reads as a
   * full cache that eviction will fix.
   */
  @Test
  void maxmemoryBelowTheServersOwnMemoryPlusOnePartIsSaidOnce() throws Exception {
    RedisServer own = RedisServer.start(scratch.resolve("own"), "--maxmemory", "1500kb", "--maxmemory-policy",
        "allkeys-lru");
    try {
      Warnings w = new Warnings();
      RedisChunkCache c = cache(own.uri(), w, "redis.retry-after", "1ms", "redis.part-size", "1m");
      long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
      while (w.warnings.isEmpty()) {
        assertThat(System.nanoTime()).as("a warning within 20 s").isLessThan(deadline);
        byte[] content = object(1 << 20);
        assertThat(bytes(c.get(ChunkId.of(content)))).isEqualTo(content);
      }
      c.close();
      int fullPart = (1 << 20) - 128 + RedisChunkCache.HEADER;
      assertThat(w.warnings).singleElement().satisfies(m -> assertThat(m).contains("OOM")
          .contains("maxmemory of 1536000 bytes holds one part of " + fullPart + " bytes (redis.part-size 1048576)")
          .contains("used_memory_startup").contains("raise maxmemory above").contains("can never be cached"));
    } finally {
      own.close();
    }
  }

  @Test
  void aFullPartTakesItsSizeInRedisMemoryNotTheNextAllocationClass() throws Exception {
    RedisChunkCache c = RedisChunkCache.open(new Unclosed(counting), CacheSettings.fromSettings(Map.of("redis.uri",
        redis.uri(), "redis.timeout", "2s")), new Warnings());
    closing.add(c);
    byte[] content = object(3 << 20);
    ChunkId id = ChunkId.of(content);
    c.get(id);
    awaitCached(redis, c, id, 4);
    long usage = Long.parseLong(redis.command("MEMORY", "USAGE", c.partKey(id, 0)));
    // a value of 1 MiB and a few bytes would take the 1.25 MiB allocation class
    assertThat(usage).as("Redis memory of one full 1 MiB part").isBetween(1L << 20, (1L << 20) + 1024);
  }

  @Test
  void deleteRemovesTheCachedParts() throws Exception {
    RedisChunkCache c = cache(redis.uri(), new Warnings());
    byte[] content = object(3 * PART);
    ChunkId id = ChunkId.of(content);
    c.get(id);
    awaitCached(redis, c, id, 3);
    c.delete(id);
    for (int i = 0; i < 3; i++) {
      assertThat(redis.getBytes(c.partKey(id, i))).isNull();
    }
  }

  @Test
  void deleteIfPresentSaysWhatTheStoreSays() throws Exception {
    // gc counts what it freed by this answer: through the cache it was true for an object already gone
    RedisChunkCache c = cache(redis.uri(), new Warnings());
    byte[] content = object(2 * PART);
    ChunkId id = ChunkId.of(content);
    c.get(id);
    awaitCached(redis, c, id, 2);
    assertThat(c.deleteIfPresent(id)).isTrue();
    assertThat(redis.getBytes(c.partKey(id, 0))).isNull();
    assertThat(local.chunks().contains(id)).isFalse();
    assertThat(c.deleteIfPresent(id)).as("deleted a moment before, by another gc").isFalse();
  }

  /** What core asks when bytes read through the cache failed its checks: the parts go, the store's object stays. */
  @Test
  void readRejectedRemovesThePartsAndKeepsTheObject() throws Exception {
    RedisChunkCache c = cache(redis.uri(), new Warnings());
    byte[] content = object(3 * PART);
    ChunkId id = ChunkId.of(content);
    c.get(id);
    awaitCached(redis, c, id, 3);
    assertThat(c.trusted()).as("a cache is never trusted").isFalse();
    assertThat(c.readRejected(id)).isTrue();
    for (int i = 0; i < 3; i++) {
      assertThat(redis.getBytes(c.partKey(id, i))).isNull();
    }
    assertThat(local.chunks().contains(id)).isTrue();
    counting.reset();
    assertThat(bytes(c.get(id))).isEqualTo(content);
    assertThat(counting.bytes.get()).as("read from the store again").isEqualTo(3L * PART);
  }

  /**
   * For a user who may not DEL, an object read through the cache that failed core's checks (its parts well-formed, a
   * payload byte forged) could not have its parts deleted: the refused DEL turned the cache off for every read, with
   * a warning, and readRejected said reading again would not help, so the read failed though the store holds the
   * object. Now the object is read from the store from then on and its parts written over.
   */
  @Test
  void readRejectedForAUserWhoMayNotDeleteReadsTheStoreAndWritesThePartsOver() throws Exception {
    redis.command("ACL", "SETUSER", "nodelobj", "on", ">pw", "~*", "+@all", "-del");
    try {
      RedisChunkCache c = cache(redis.uri(), new Warnings());
      byte[] content = object(2 * PART);
      ChunkId id = ChunkId.of(content);
      c.get(id);
      awaitCached(redis, c, id, 2);
      byte[] forgedPayload = java.util.Arrays.copyOfRange(content, 0, PART);
      forgedPayload[5] ^= 1;
      ByteBuffer head = RedisChunkCache.header(id, PART, 0, content.length, ByteBuffer.wrap(forgedPayload));
      byte[] forged = new byte[60 + PART];
      head.get(forged, 0, 60);
      System.arraycopy(forgedPayload, 0, forged, 60, PART);
      redis.command("SET".getBytes(), c.partKey(id, 0).getBytes(), forged);

      Warnings w = new Warnings();
      RedisChunkCache noDel = cache("redis://nodelobj:pw@127.0.0.1:" + redis.port(), w, "redis.fill-wait", "0s");
      assertThat(bytes(noDel.get(id))).as("the parts pass their own checks").isNotEqualTo(content);
      assertThat(noDel.readRejected(id)).as("reading again brings the store's bytes").isTrue();
      assertThat(noDel.active()).as("the cache stays on").isTrue();
      assertThat(w.warnings).singleElement().satisfies(m -> assertThat(m).contains("object " + id)
          .contains("may not run DEL, so its parts are not dropped").contains("writes its parts over"));
      counting.reset();
      assertThat(bytes(noDel.get(id))).isEqualTo(content);
      assertThat(counting.bytes.get()).as("read from the store").isEqualTo(2L * PART);
      awaitWrittenOver(c.partKey(id, 0), forged, "the forged part");
      counting.reset();
      assertThat(bytes(cache(redis.uri(), new Warnings()).get(id))).isEqualTo(content);
      assertThat(counting.reads.get()).as("the parts were written over with the right bytes").isZero();
    } finally {
      redis.command("ACL", "DELUSER", "nodelobj");
    }
  }

  /**
   * gc through the cache by a user who may not DEL: the refused DEL of a deleted object's parts turned the cache off
   * for redis.retry-after with a warning, reads of every other object included. Now no DEL is sent, one notice says
   * that the parts stay until they expire or are evicted, and the cache stays on.
   */
  @Test
  void deletingForAUserWhoMayNotDeleteLeavesThePartsAndKeepsTheCacheOn() throws Exception {
    redis.command("ACL", "SETUSER", "nodelgc", "on", ">pw", "~*", "+@all", "-del");
    try {
      Warnings w = new Warnings();
      RedisChunkCache c = cache("redis://nodelgc:pw@127.0.0.1:" + redis.port(), w, "redis.fill-wait", "0s");
      byte[] kept = object(PART);
      ChunkId keptId = ChunkId.of(kept);
      c.get(keptId);
      awaitCached(redis, c, keptId, 1);
      w.warnings.clear();
      w.notices.clear();
      for (int i = 0; i < 2; i++) {
        byte[] gone = object(2 * PART);
        ChunkId goneId = ChunkId.of(gone);
        c.get(goneId);
        awaitCached(redis, c, goneId, 2);
        assertThat(c.deleteIfPresent(goneId)).isTrue();
        assertThat(local.chunks().contains(goneId)).isFalse();
        assertThat(redis.getBytes(c.partKey(goneId, 0))).as("its parts stay").isNotNull();
        assertThat(c.active()).as("the cache stays on").isTrue();
      }
      assertThat(w.warnings).as("said once, as a notice").singleElement().satisfies(m -> assertThat(m)
          .contains("may not run DEL").contains("stay until they expire or are evicted").doesNotContain(":pw@"));
      assertThat(w.notices).hasSize(1);
      counting.reset();
      assertThat(bytes(c.get(keptId))).isEqualTo(kept);
      assertThat(counting.reads.get()).as("read from Redis").isZero();
    } finally {
      redis.command("ACL", "DELUSER", "nodelgc");
    }
  }

  @Test
  void storesSharingOneRedisDoNotMix() throws Exception {
    RedisChunkCache a = cache(redis.uri(), new Warnings());
    try (LocalBackend other = LocalBackend.open(scratch.resolve("other"), StoreOptions.createIfMissing())) {
      RedisChunkCache b = RedisChunkCache.open(new Unclosed(other.chunks()), CacheSettings.fromSettings(Map.of(
          "redis.uri", redis.uri(), "redis.part-size", "64k")), new Warnings());
      closing.add(b);
      assertThat(a.namespace()).isNotEqualTo(b.namespace());
      byte[] content = object(PART);
      ChunkId id = ChunkId.of(content);
      a.get(id);
      awaitCached(redis, a, id, 1);
      assertThat(a.partKey(id, 0)).isNotEqualTo(b.partKey(id, 0));
      assertThat(b.contains(id)).isFalse();
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> b.get(id))
          .isInstanceOf(io.ferry.error.MissingObjectException.class);
    }
  }

  @Test
  void countersAreAddedUpInRedisAndReadBackByStats() throws Exception {
    String ns = "stats-" + random.random().nextInt(1_000_000);
    RedisChunkCache c = cache(redis.uri(), new Warnings(), "redis.namespace", ns);
    byte[] content = object(3 * PART);
    ChunkId id = ChunkId.of(content);
    c.get(id);
    awaitCached(redis, c, id, 3);
    c.get(id);
    CacheCounters mine = c.counters();
    c.close();
    RedisCache.Report r = RedisCache.stats(CacheSettings.of(redis.uri()));
    RedisCache.StoreEntry e = r.stores().stream().filter(s -> s.namespace().equals(ns)).findFirst().orElseThrow();
    assertThat(e.store()).isEqualTo(counting.describe());
    assertThat(e.counters()).isEqualTo(mine);
    assertThat(e.parts()).isEqualTo(3);
    assertThat(e.objects()).isEqualTo(1);
    assertThat(r.usedMemory()).isPositive();
    assertThat(r.maxMemory()).isEqualTo(256L << 20);
    assertThat(r.policy()).isEqualTo("allkeys-lru");
  }

  /**
   * Keys of Ferry's names that someone else wrote with another type, or counters that are not numbers, do not fail
   * {@code cache stats}: it failed with a bare "WRONGTYPE Operation against a key holding the wrong kind of value"
   * (or "For input string"), naming no key, and reported no store at all.
   */
  @Test
  void statsReadsPastKeysOfOtherTypesAndNamesTheSetOfStoresWhenItIsOne() throws Exception {
    String ns = "odd-" + random.random().nextInt(1_000_000);
    RedisChunkCache c = cache(redis.uri(), new Warnings(), "redis.namespace", ns);
    byte[] content = object(2 * PART);
    ChunkId id = ChunkId.of(content);
    c.get(id);
    awaitCached(redis, c, id, 2);
    c.close();
    redis.command("DEL", "ferry:" + ns + ":store");
    redis.command("RPUSH", "ferry:" + ns + ":store", "x");
    redis.command("HSET", "ferry:" + ns + ":stats", "hits", "many");
    redis.command("SADD", "ferry:stores", "*");
    redis.command("DEL", "ferry:bad-" + ns + ":stats");
    redis.command("SET", "ferry:bad-" + ns + ":stats", "x");
    redis.command("SADD", "ferry:stores", "bad-" + ns);
    try {
      RedisCache.Report r = RedisCache.stats(CacheSettings.of(redis.uri()));
      RedisCache.StoreEntry e = r.stores().stream().filter(s -> s.namespace().equals(ns)).findFirst().orElseThrow();
      assertThat(e.store()).isEqualTo("(unknown)");
      assertThat(e.counters().hits()).isZero();
      assertThat(e.parts()).isEqualTo(2);
      assertThat(r.stores()).extracting(RedisCache.StoreEntry::namespace).contains("bad-" + ns).doesNotContain("*");
      redis.command("RENAME", "ferry:stores", "ferry:stores-" + ns);
      redis.command("SET", "ferry:stores", "x");
      assertThatThrownBy(() -> RedisCache.stats(CacheSettings.of(redis.uri()))).isInstanceOf(IOException.class)
          .hasMessageContaining("key ferry:stores").hasMessageContaining("holds a string, not a set");
    } finally {
      if ("1".equals(redis.command("EXISTS", "ferry:stores-" + ns))) {
        redis.command("DEL", "ferry:stores");
        redis.command("RENAME", "ferry:stores-" + ns, "ferry:stores");
      }
      redis.command("SREM", "ferry:stores", "*", "bad-" + ns);
    }
  }

  /**
   * A cache that timed out once (the circuit opened) still saves its counters at close: they were dropped, so a pull
   * that met one slow answer added nothing to {@code cache stats}.
   */
  @Test
  void countersAreSavedAtCloseAfterTheCircuitOpened() throws Exception {
    String ns = "paused-" + random.random().nextInt(1_000_000);
    Warnings w = new Warnings();
    // a timeout that a loaded machine's stall of Redis does not reach while the cache is filled (with 300 ms, one of
    // 1.5 s opened the circuit then, and nothing was cached), and a pause of Redis below well past it
    RedisChunkCache c = cache(redis.uri(), w, "redis.namespace", ns, "redis.timeout", "2s",
        "redis.retry-after", "10m");
    byte[] content = object(3 * PART);
    ChunkId id = ChunkId.of(content);
    c.get(id);
    awaitCached(redis, c, id, 3);
    // every client of the server waits 6 s: the next read times out and goes to the store
    redis.command("CLIENT", "PAUSE", "6000", "ALL");
    assertThat(bytes(c.get(id))).isEqualTo(content);
    assertThat(w.warnings).as("the circuit opened").hasSize(1);
    assertThat(c.active()).isFalse();
    redis.command("PING"); // answered once the pause is over
    CacheCounters mine = c.counters();
    c.close();
    RedisCache.StoreEntry e = RedisCache.stats(CacheSettings.of(redis.uri())).stores().stream()
        .filter(s -> s.namespace().equals(ns)).findFirst().orElseThrow();
    assertThat(e.counters()).isEqualTo(mine);
    assertThat(mine.misses()).isPositive();
  }

  /** Lets several caches share one store in a test: closing a cache leaves the store open. */
  private static final class Unclosed extends io.ferry.store.ForwardingChunkStore {
    Unclosed(io.ferry.store.ChunkStore d) {
      super(d);
    }

    @Override
    public void close() {}
  }

  /** Waits (at most 20 s) until a writer's fill has replaced the bytes {@code bad} at {@code key}. */
  private void awaitWrittenOver(String key, byte[] bad, String what) throws IOException {
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (java.util.Arrays.equals(redis.getBytes(key), bad)) {
      assertThat(System.nanoTime()).as(what + " written over within 20 s").isLessThan(deadline);
      Thread.onSpinWait();
    }
  }
}
