package io.ferry.store.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.DType;
import io.ferry.transfer.PullOptions;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.server.FerryServer;
import io.ferry.server.ServerOptions;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import io.ferry.testkit.DirectoryState;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.Mutations;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A server that cannot be trusted, or a network that damages what it carries: a proxy in front of a real server
 * flips a byte, or cuts the connection, somewhere in some of its answers (headers, JSON, chunk bodies alike). Every
 * pull through it either writes the version's files byte-identical or fails with an {@link IOException}, leaving
 * nothing in its destination; never other bytes, never a {@link RuntimeException} or an {@link Error}. Deterministic:
 * {@code -Dferry.fuzz.seed}, {@code -Dferry.fuzz.pulls}.
 */
@Timeout(600)
class TamperedResponsesTest {
  private static final long SEED = Mutations.SEED;
  private static final int PULLS = Integer.getInteger("ferry.fuzz.pulls", 16);

  @TempDir Path tmp;

  @Test
  void pullsThroughADamagingProxyAreWholeOrFailCleanly() throws Exception {
    Path src = tmp.resolve("model");
    ModelGenerator.writeHfModel(src, ModelGenerator.transformer(6 << 20, DType.BF16, 3), 2 << 20);
    Files.writeString(src.resolve("config.json"), "{\"model_type\":\"llama\"}");
    Map<String, String> expected = DirectoryState.of(src);
    try (LocalBackend store = LocalBackend.open(tmp.resolve("store"), StoreOptions.createIfMissing());
        Repository local = Repository.open(store, RepositoryOptions.defaults())) {
      local.push(src, "m:prod", PushOptions.builder().message("v1").build());
      try (FerryServer server = FerryServer.start(local, ServerOptions.builder().listen("127.0.0.1", 0).build());
          Tamperer proxy = new Tamperer(server.uri(), SEED)) {
        List<String> failures = new ArrayList<>();
        int whole = 0;
        for (int i = 0; i < PULLS && failures.isEmpty(); i++) {
          proxy.round(i);
          Path out = tmp.resolve("out" + i);
          URI uri = URI.create(proxy.uri() + "?request_timeout_ms=2000&connect_timeout_ms=2000");
          try (Repository remote = io.ferry.Ferry.open(uri.toString(), StoreOptions.existing(),
              RepositoryOptions.defaults())) {
            remote.pull("m:prod", out, PullOptions.defaults());
            if (!DirectoryState.of(out).equals(expected)) {
              failures.add("pull " + i + " (" + proxy.damage() + ") wrote other files than were pushed");
            } else {
              whole++;
            }
          } catch (IOException e) {
            if (Boolean.getBoolean("ferry.fuzz.print")) {
              System.out.println("pull " + i + " (" + proxy.damage() + "): " + e);
            }
            if (Files.exists(out) && !DirectoryState.of(out).isEmpty()) {
              failures.add("pull " + i + " failed (" + e + ") but left " + DirectoryState.of(out).keySet());
            }
          } catch (RuntimeException | Error e) {
            java.io.StringWriter trace = new java.io.StringWriter();
            e.printStackTrace(new java.io.PrintWriter(trace));
            failures.add("pull " + i + " (" + proxy.damage() + "): " + trace.toString().lines().limit(12)
                .reduce((a, b) -> a + "\n" + b).orElse(""));
          }
        }
        System.out.printf("%d pulls through the proxy, %d answers damaged: %d whole, %d failed cleanly%n", PULLS,
            proxy.damaged(), whole, PULLS - whole);
        assertThat(failures).as("seed %d", SEED).isEmpty();
        assertThat(proxy.damaged()).as("answers damaged").isPositive();
        // the damage is one answer in a few: retries on a fresh connection get most pulls through whole
        assertThat(whole).as("pulls that came through whole").isPositive();
      }
    }
  }

  /**
   * One byte flipped on the way in one chunk's answer, from the only server: the reader finds the chunk damaged, reads
   * it once more, and the pull is whole.
   */
  @Test
  void aChunkDamagedOnTheWayIsReadAgain() throws Exception {
    Path src = model();
    served(src, 1, servers -> {
      try (Tamperer proxy = new Tamperer(servers.get(0).uri(), connection -> DEEP_IN_A_CHUNK, 1)) {
        Path out = tmp.resolve("out");
        try (Repository remote = io.ferry.Ferry.open(proxy.uri().toString(), StoreOptions.existing(),
            RepositoryOptions.defaults())) {
          remote.pull("m:prod", out, PullOptions.defaults());
        }
        assertThat(proxy.damaged()).as("answers damaged").isEqualTo(1);
        assertThat(DirectoryState.of(out)).isEqualTo(DirectoryState.of(src));
      }
    });
  }

  /**
   * Of two servers over one store, one damages every chunk it sends (a bad proxy, or a bad cache in front of it): each
   * chunk it damaged is read from the other, which it is then left to for that chunk, and the pull is whole.
   */
  @Test
  void chunksOneServerDamagesAreReadFromTheOther() throws Exception {
    Path src = model();
    served(src, 2, servers -> {
      try (Tamperer proxy = new Tamperer(servers.get(1).uri(), connection -> DEEP_IN_A_CHUNK, -1)) {
        for (int i = 0; i < 2; i++) {
          Path out = tmp.resolve("out" + i);
          try (Repository remote = io.ferry.Ferry.open(proxy.uri() + "," + servers.get(0).uri()
              + "?balance=round-robin", StoreOptions.existing(), RepositoryOptions.defaults())) {
            remote.pull("m:prod", out, PullOptions.defaults());
          }
          assertThat(DirectoryState.of(out)).as("pull %d", i).isEqualTo(DirectoryState.of(src));
        }
        assertThat(proxy.damaged()).as("answers damaged").isPositive();
      }
    });
  }

  /**
   * Both servers send damaged bytes of every object, however often they are asked (a forged cache in front of their
   * store that a rejection does not clear): the pull fails, and its error names the server that sent the bytes that
   * failed last, with the other server's failure beside it, so the user knows which servers to look at. (It damaged
   * the answers on the way, at 1 MiB into each connection's stream, which made whether every read of a chunk was
   * damaged depend on how the client spread its reads over its connections: about one run in four the pull was
   * whole.)
   */
  @Test
  void aChunkEveryServerDamagesFailsNamingTheServersThatSentIt() throws Exception {
    Path src = model();
    try (LocalBackend store = LocalBackend.open(tmp.resolve("store"), StoreOptions.createIfMissing());
        Repository local = Repository.open(store, RepositoryOptions.defaults())) {
      local.push(src, "m:prod", PushOptions.builder().message("v1").build());
    }
    try (LocalBackend store = LocalBackend.open(tmp.resolve("store"), StoreOptions.existing());
        ForgingCache forging = new ForgingCache(store, false);
        Repository served = Repository.open(forging, RepositoryOptions.defaults());
        FerryServer a = FerryServer.start(served, ServerOptions.builder().listen("127.0.0.1", 0).build());
        FerryServer b = FerryServer.start(served, ServerOptions.builder().listen("127.0.0.1", 0).build());
        Repository remote = io.ferry.Ferry.open(a.uri() + "," + b.uri() + "?balance=round-robin",
            StoreOptions.existing(), RepositoryOptions.defaults())) {
      Throwable t = org.assertj.core.api.Assertions.catchThrowable(
          () -> remote.pull("m:prod", tmp.resolve("out"), PullOptions.defaults()));
      assertThat(t).isInstanceOf(io.ferry.error.CorruptObjectException.class);
      String last = t.getMessage();
      assertThat(t.getSuppressed()).as("the first read's failure").hasSize(1);
      String first = t.getSuppressed()[0].getMessage();
      String[] names = {a.uri().toString(), b.uri().toString()};
      assertThat(last).matches(m -> m.contains("(sent by " + names[0] + ")")
          || m.contains("(sent by " + names[1] + ")"), "names a server: " + last);
      String other = last.contains("(sent by " + names[0] + ")") ? names[1] : names[0];
      assertThat(first).as("the first read came from the other server").contains("(sent by " + other + ")");
      assertThat(tmp.resolve("out")).doesNotExist();
      assertThat(forging.forged.get()).as("reads answered with forged bytes").isGreaterThanOrEqualTo(2);
    }
  }

  private interface WithServers {
    void run(List<FerryServer> servers) throws Exception;
  }

  /**
   * A server whose store has a cache in front of it (`ferry serve --cache`) that holds forged copies of every object:
   * well-formed, one byte off. The client's checks fail, it reads again with {@code Cache-Control: no-cache}, the
   * server's cache drops its copy and the store's bytes come: the pull is whole. It used to read the same forged bytes
   * twice and fail (exit 3, the object "corrupt" at the server) while the store held it intact, every pull alike.
   */
  @Test
  void objectsForgedInTheServersCacheAreReadAgainFromItsStore() throws Exception {
    Path src = model();
    try (LocalBackend store = LocalBackend.open(tmp.resolve("store"), StoreOptions.createIfMissing());
        Repository local = Repository.open(store, RepositoryOptions.defaults())) {
      local.push(src, "m:prod", PushOptions.builder().message("v1").build());
    }
    try (LocalBackend store = LocalBackend.open(tmp.resolve("store"), StoreOptions.existing());
        ForgingCache cached = new ForgingCache(store);
        Repository served = Repository.open(cached, RepositoryOptions.defaults());
        FerryServer server = FerryServer.start(served, ServerOptions.builder().listen("127.0.0.1", 0).build())) {
      Path out = tmp.resolve("out");
      try (Repository remote = io.ferry.Ferry.open(server.uri().toString(), StoreOptions.existing(),
          RepositoryOptions.defaults())) {
        remote.pull("m:prod", out, PullOptions.defaults());
      }
      assertThat(DirectoryState.of(out)).isEqualTo(DirectoryState.of(src));
      assertThat(cached.forged.get()).as("reads answered with forged bytes").isPositive();
      assertThat(cached.dropped).as("objects the server's cache was told to drop").isNotEmpty();
    }
  }

  /**
   * Two threads read the same pack; the first rejects its bytes, the second's read (already on its way) takes the
   * shared "ask past the cache" mark first. The first thread's own second read must still ask past the server's cache:
   * the second thread's request may reach the server after it, and the cache would answer the forged bytes again
   * (a CI run saw exactly that as a pull failing "corrupt").
   */
  @Test
  void theThreadThatRejectedBytesAsksPastTheCacheItselfEvenIfAnotherReadTookTheMark() throws Exception {
    Path src = model();
    io.ferry.id.ChunkId object;
    try (LocalBackend store = LocalBackend.open(tmp.resolve("store"), StoreOptions.createIfMissing());
        Repository local = Repository.open(store, RepositoryOptions.defaults())) {
      local.push(src, "m:prod", PushOptions.builder().message("v1").build());
      List<io.ferry.id.ChunkId> all = new ArrayList<>();
      store.chunks().list(o -> all.add(o.id()));
      object = all.get(0);
    }
    try (LocalBackend store = LocalBackend.open(tmp.resolve("store"), StoreOptions.existing());
        ForgingCache cached = new ForgingCache(store, false);
        Repository served = Repository.open(cached, RepositoryOptions.defaults());
        FerryServer server = FerryServer.start(served, ServerOptions.builder().listen("127.0.0.1", 0).build());
        HttpBackend client = HttpBackend.open(server.uri(), StoreOptions.existing(), Map.of())) {
      io.ferry.store.ChunkStore chunks = client.chunks();
      chunks.read(object, 0, 1);
      assertThat(chunks.readRejected(object)).isTrue();
      ExecutorService other = Executors.newSingleThreadExecutor();
      try {
        other.submit(() -> chunks.read(object, 0, 1)).get();
      } finally {
        other.shutdown();
      }
      assertThat(cached.told.get()).as("reads that asked past the server's cache").isEqualTo(1);
      chunks.read(object, 0, 1);
      assertThat(cached.told.get()).as("reads that asked past the server's cache").isEqualTo(2);
    }
  }

  /**
   * A store with a cache in front of it that holds a forged copy of every object (byte 100 flipped) until it is told
   * the object's bytes were rejected ({@code readRejected}), as a Redis that someone else wrote would; or, if told
   * so, whatever it is told.
   */
  private static final class ForgingCache implements io.ferry.store.Backend {
    private static final long AT = 100;
    final AtomicInteger forged = new AtomicInteger();
    final java.util.Set<io.ferry.id.ChunkId> dropped = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** How many times the server was told an object's bytes were rejected. */
    final AtomicInteger told = new AtomicInteger();
    private final LocalBackend store;
    private final io.ferry.store.ChunkStore chunks;

    ForgingCache(LocalBackend store) {
      this(store, true);
    }

    /** @param dropsRejected whether a rejected object's forged copy is dropped (else it is sent again) */
    ForgingCache(LocalBackend store, boolean dropsRejected) {
      this.store = store;
      this.chunks = new io.ferry.store.ForwardingChunkStore(store.chunks()) {
        @Override
        public boolean trusted() {
          return false;
        }

        @Override
        public boolean readRejected(io.ferry.id.ChunkId object) throws IOException {
          told.incrementAndGet();
          if (dropsRejected) {
            dropped.add(object);
          }
          inner.readRejected(object);
          return true;
        }

        @Override
        public java.nio.ByteBuffer read(io.ferry.id.ChunkId id, long offset, int length) throws IOException {
          java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(length);
          readInto(id, offset, b);
          return b.flip();
        }

        @Override
        public void readInto(io.ferry.id.ChunkId id, long offset, java.nio.ByteBuffer dst) throws IOException {
          int start = dst.position();
          inner.readInto(id, offset, dst);
          if (!dropped.contains(id) && offset <= AT && AT < offset + (dst.position() - start)) {
            int at = start + (int) (AT - offset);
            dst.put(at, (byte) (dst.get(at) ^ 0x20));
            forged.incrementAndGet();
          }
        }
      };
    }

    @Override
    public io.ferry.store.ChunkStore chunks() {
      return chunks;
    }

    @Override
    public io.ferry.store.RefStore refs() {
      return store.refs();
    }

    @Override
    public io.ferry.store.RecordStore records() {
      return store.records();
    }

    @Override
    public String uri() {
      return store.uri();
    }

    @Override
    public void close() {}
  }

  /** Pushes the model as m:prod into a local store and runs {@code test} with that many servers over it. */
  private void served(Path src, int count, WithServers test) throws Exception {
    try (LocalBackend store = LocalBackend.open(tmp.resolve("store"), StoreOptions.createIfMissing());
        Repository local = Repository.open(store, RepositoryOptions.defaults())) {
      local.push(src, "m:prod", PushOptions.builder().message("v1").build());
      List<FerryServer> servers = new ArrayList<>();
      try {
        for (int i = 0; i < count; i++) {
          servers.add(FerryServer.start(local, ServerOptions.builder().listen("127.0.0.1", 0).build()));
        }
        test.run(servers);
      } finally {
        for (FerryServer s : servers) {
          s.close();
        }
      }
    }
  }

  /** A flip at 1 MiB into an answer stream: inside the first chunk body of a connection (the chunks are 2 MiB). */
  private static final long[] DEEP_IN_A_CHUNK = {1, 1 << 20};

  private Path model() throws IOException {
    Path src = tmp.resolve("model");
    ModelGenerator.writeHfModel(src, ModelGenerator.transformer(6 << 20, DType.BF16, 3), 2 << 20);
    Files.writeString(src.resolve("config.json"), "{\"model_type\":\"llama\"}");
    return src;
  }

  /** What the proxy does to a connection's answer stream: {plan, at}, plan 0 nothing, 1 flip, 2 cut. */
  private interface Planner {
    long[] plan(int connection);
  }

  /**
   * A TCP proxy: requests go through as they are; the planner says what happens to each connection's answer stream
   * (by default, in one connection of three, one byte flipped at a random offset within its first 256 KiB, or the
   * stream cut there), up to a number of damaged answers (-1: no limit).
   */
  private static final class Tamperer implements AutoCloseable {
    private final URI target;
    private final ServerSocket listener;
    private final ExecutorService threads = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "tamperer");
      t.setDaemon(true);
      return t;
    });
    private final AtomicInteger damaged = new AtomicInteger();
    private final List<String> damage = new ArrayList<>();
    private volatile SplittableRandom random;

    private final Planner planner;
    private final AtomicInteger budget;
    private int connections;

    Tamperer(URI target, long seed) throws IOException {
      this(target, null, -1);
      this.random = new SplittableRandom(seed);
    }

    Tamperer(URI target, Planner planner, int budget) throws IOException {
      this.target = target;
      this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
      this.planner = planner;
      this.budget = budget < 0 ? null : new AtomicInteger(budget);
      threads.execute(this::accept);
    }

    void round(int i) {
      random = new SplittableRandom(SEED * 31 + i);
      synchronized (damage) {
        damage.clear();
      }
    }

    String damage() {
      synchronized (damage) {
        return String.join("; ", damage);
      }
    }

    int damaged() {
      return damaged.get();
    }

    URI uri() {
      return URI.create("http://127.0.0.1:" + listener.getLocalPort());
    }

    private void accept() {
      while (!listener.isClosed()) {
        try {
          Socket client = listener.accept();
          Socket server = new Socket(target.getHost(), target.getPort());
          int plan;
          long at;
          synchronized (this) {
            if (planner != null) {
              long[] p = planner.plan(connections++);
              plan = (int) p[0];
              at = p[1];
            } else {
              plan = random.nextInt(3) == 0 ? 1 + random.nextInt(2) : 0; // 1 flip, 2 cut
              at = random.nextLong(256 << 10);
            }
          }
          threads.execute(() -> pump(client, server, 0, -1));
          threads.execute(() -> pump(server, client, plan, at));
        } catch (IOException e) {
          return;
        }
      }
    }

    private void pump(Socket from, Socket to, int plan, long at) {
      try (from; to) {
        InputStream in = from.getInputStream();
        OutputStream out = to.getOutputStream();
        byte[] buf = new byte[16 << 10];
        long pos = 0;
        for (int n; (n = in.read(buf)) >= 0; ) {
          if (plan != 0 && at >= pos && at < pos + n && (budget == null || budget.getAndDecrement() > 0)) {
            int i = (int) (at - pos);
            damaged.incrementAndGet();
            if (plan == 1) {
              buf[i] ^= (byte) (1 << (int) (at % 8));
              note("byte " + at + " of an answer flipped");
            } else {
              out.write(buf, 0, i);
              note("an answer cut after " + at + " bytes");
              return;
            }
          }
          out.write(buf, 0, n);
          pos += n;
        }
      } catch (IOException e) {
        // either side closed: the other goes with it
      }
    }

    private void note(String what) {
      synchronized (damage) {
        damage.add(what);
      }
    }

    @Override
    public void close() throws IOException {
      listener.close();
      threads.shutdownNow();
    }
  }
}
