package io.ferry.store.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.VersionRef;
import io.ferry.server.FerryServer;
import io.ferry.server.ServerOptions;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.DirectoryState;
import io.ferry.testkit.FreePort;
import io.ferry.transfer.PullOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three real servers ({@link FerryServer}, what {@code ferry serve} runs) over one store; 32 pulls run at once through
 * clients that list all three; one server is stopped in the middle of them and started again on its port. Every pull
 * completes byte-identical, the stopped server's share of the requests goes to the other two while it is away, and it
 * takes requests again once it is back.
 */
@Timeout(120)
class ThreeServersTest {
  static final int PULLS = 32;
  static final int CLIENTS = 4;

  @TempDir Path tmp;

  private final List<AtomicLong> served = List.of(new AtomicLong(), new AtomicLong(), new AtomicLong());
  private final FerryServer[] servers = new FerryServer[3];
  private int[] ports = new int[3];

  private FerryServer start(Repository store, int i, int port) throws IOException {
    AtomicLong count = served.get(i);
    servers[i] = FerryServer.start(store, ServerOptions.builder().listen("127.0.0.1", port)
        .accessLog(line -> count.incrementAndGet()).build());
    ports[i] = servers[i].port();
    return servers[i];
  }

  private long total() {
    return served.stream().mapToLong(AtomicLong::get).sum();
  }

  @Test
  void oneServerStoppedAndRestartedDuringThirtyTwoPulls() throws Exception {
    Path src = tmp.resolve("src");
    Files.createDirectories(src.resolve("weights"));
    Random random = new Random(11);
    for (int i = 0; i < 3; i++) {
      byte[] b = new byte[(512 << 10) + random.nextInt(512 << 10)];
      random.nextBytes(b);
      Files.write(src.resolve("weights/part-" + i + ".bin"), b);
    }
    Files.writeString(src.resolve("config.json"), "{\"layers\": 3}");
    Map<String, String> want = DirectoryState.of(src);
    try (Repository store = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      store.push(src, "org/m:prod", PushOptions.builder().build());
      VersionRef pushed = store.resolve("org/m:prod");
      for (int i = 0; i < 3; i++) {
        // a port no other process is handed while the server is stopped, for its restart on the same port
        start(store, i, FreePort.pick());
      }
      String uri = "http://127.0.0.1:" + ports[0] + ",http://127.0.0.1:" + ports[1] + ",http://127.0.0.1:" + ports[2]
          + "?probe_min_ms=20&probe_max_ms=100";
      List<Repository> clients = new ArrayList<>();
      ExecutorService pool = Executors.newFixedThreadPool(PULLS);
      try {
        for (int c = 0; c < CLIENTS; c++) {
          clients.add(Ferry.open(uri, StoreOptions.existing(), RepositoryOptions.defaults().withParallelism(2)));
        }
        long before = total();
        clients.get(0).pull("org/m:prod", tmp.resolve("probe"), PullOptions.defaults());
        long perPull = total() - before;

        List<Future<VersionRef>> pulls = new ArrayList<>();
        for (int p = 0; p < PULLS; p++) {
          Repository client = clients.get(p % CLIENTS);
          Path dest = tmp.resolve("out-" + p);
          pulls.add(pool.submit(() -> client.pull("org/m:prod", dest, PullOptions.defaults())));
        }
        long start = total();
        ServerGroup.await("a quarter of the pulls' requests", 60, () -> total() - start >= perPull * PULLS / 4
            || pulls.stream().allMatch(Future::isDone));
        servers[1].close();
        long[] atStop = counts();
        long stopped = total();
        // an eighth of the pulls' requests made while the server is away, unless the pulls end first (later pulls of a
        // client need fewer requests than the probe: it keeps pack indexes and snapshots)
        ServerGroup.await("an eighth of the pulls' requests after the stop", 60,
            () -> total() - stopped >= perPull * PULLS / 8 || pulls.stream().allMatch(Future::isDone));
        boolean endedFirst = total() - stopped < perPull * PULLS / 8;
        long[] whileAway = minus(counts(), atStop);
        start(store, 1, ports[1]);
        for (Future<VersionRef> f : pulls) {
          assertThat(f.get().id()).isEqualTo(pushed.id());
        }
        for (int p = 0; p < PULLS; p++) {
          assertThat(DirectoryState.of(tmp.resolve("out-" + p))).as("pull %d", p).isEqualTo(want);
        }
        assertThat(whileAway[1]).as("requests the stopped server served").isZero();
        assertThat(whileAway[0]).as("requests the first server served meanwhile").isPositive();
        assertThat(whileAway[2]).as("requests the third server served meanwhile").isPositive();
        assertThat(whileAway[0] + whileAway[2]).as("requests the other two served meanwhile")
            .isGreaterThanOrEqualTo(endedFirst ? 1 : perPull * PULLS / 8);
        assertThat(clients.stream().mapToLong(c -> ((HttpBackend) backendOf(c)).stats().get(1).timesDown()).sum())
            .as("clients that marked the stopped server down").isPositive();

        // once back, the probes find it and it takes its share again
        for (Repository c : clients) {
          HttpBackend b = (HttpBackend) backendOf(c);
          ServerGroup.await("the restarted server to be up for every client", 20, () -> !b.stats().get(1).down());
        }
        long back = served.get(1).get();
        List<Future<VersionRef>> more = new ArrayList<>();
        for (int c = 0; c < CLIENTS; c++) {
          Repository client = clients.get(c);
          Path dest = tmp.resolve("again-" + c);
          more.add(pool.submit(() -> client.pull("org/m:prod", dest, PullOptions.defaults())));
        }
        for (Future<VersionRef> f : more) {
          assertThat(f.get().id()).isEqualTo(pushed.id());
        }
        // a request's access-log line is written after its response is complete: the pulls can end before it is
        ServerGroup.await("the restarted server to log a request", 60, () -> served.get(1).get() > back);
        assertThat(served.get(1).get()).as("requests of the restarted server").isGreaterThan(back);
      } finally {
        pool.shutdownNow();
        for (Repository c : clients) {
          c.close();
        }
        for (FerryServer s : servers) {
          if (s != null) {
            s.close();
          }
        }
      }
    }
  }

  private static io.ferry.store.Backend backendOf(Repository r) {
    return r.backend();
  }

  private long[] counts() {
    return served.stream().mapToLong(AtomicLong::get).toArray();
  }

  private static long[] minus(long[] a, long[] b) {
    long[] out = new long[a.length];
    for (int i = 0; i < a.length; i++) {
      out[i] = a[i] - b[i];
    }
    return out;
  }
}
