package io.ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.Backend;
import io.ferry.store.ChunkStore;
import io.ferry.store.ForwardingRecordStore;
import io.ferry.store.RecordStore;
import io.ferry.store.RefStore;
import io.ferry.store.StoreIdentity;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.FreePort;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A server over a store made before markers had an id, which it may only read: the store has no id to report, and the
 * server asks for one at a bounded rate, not on every request.
 */
@Timeout(60)
class StoreIdReaderTest {
  @TempDir Path tmp;

  /**
   * Every /v1 request of a reader used to read the store's id record and try to create it (two backend calls, two
   * round trips on S3 or HDFS): 20 requests made 20 reads. Now the first request asks, and the others go without.
   */
  @Test
  void aServerOverAStoreWithoutAnIdItMayOnlyReadDoesNotAskOnEveryRequest() throws Exception {
    OldReadOnlyStore store = new OldReadOnlyStore(Ferry.openBackend(tmp.resolve("store").toString(),
        StoreOptions.createIfMissing()));
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    try (Repository repo = Repository.open(store, RepositoryOptions.defaults());
        FerryServer server = FerryServer.start(repo, ServerOptions.builder().listen("127.0.0.1", FreePort.pick())
            .build())) {
      for (int i = 0; i < 20; i++) {
        for (String path : List.of("/v1/models", "/v1/store")) {
          HttpResponse<String> r = http.send(HttpRequest.newBuilder(server.uri().resolve(path))
              .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
          assertThat(r.statusCode()).as(path).isEqualTo(200);
          assertThat(r.headers().firstValue(StoreApi.STORE_ID_HEADER)).as(path).isEmpty();
          if (path.equals("/v1/store")) {
            assertThat(r.body()).doesNotContain("\"id\"");
          }
        }
      }
    }
    assertThat(store.idReads.get()).isEqualTo(1);
    assertThat(store.refusedCreates.get()).isEqualTo(1);
  }

  /**
   * After a failed read the store is asked again once {@link StoreIdReader#RETRY} passed, so that an id a writer
   * gave the store meanwhile is reported; once had, the id is kept and the store is not asked again.
   */
  @Test
  void theIdIsAskedForAgainAfterTheRetryIntervalAndKeptOnceHad() throws Exception {
    OldReadOnlyStore store = new OldReadOnlyStore(Ferry.openBackend(tmp.resolve("store").toString(),
        StoreOptions.createIfMissing()));
    try (store) {
      MutableClock clock = new MutableClock();
      StoreIdReader ids = new StoreIdReader(store, clock);
      assertThat(ids.get()).isNull();
      clock.advance(StoreIdReader.RETRY.minusSeconds(1));
      assertThat(ids.get()).isNull();
      assertThat(store.idReads.get()).isEqualTo(1);
      clock.advance(Duration.ofSeconds(1));
      assertThat(ids.get()).isNull();
      assertThat(store.idReads.get()).isEqualTo(2);

      store.writable = true; // a writer gives the store its id
      String id = StoreIdentity.of(store);
      clock.advance(StoreIdReader.RETRY);
      assertThat(ids.get()).isEqualTo(id);
      int reads = store.idReads.get();
      clock.advance(StoreIdReader.RETRY.multipliedBy(3));
      assertThat(ids.get()).isEqualTo(id);
      assertThat(store.idReads.get()).isEqualTo(reads);
    }
  }

  private static final class MutableClock extends Clock {
    private Instant now = Instant.parse("2026-01-01T00:00:00Z");

    void advance(Duration d) {
      now = now.plus(d);
    }

    @Override
    public Instant instant() {
      return now;
    }

    @Override
    public java.time.ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }
  }

  /**
   * A store made before markers had an id (no id in its marker) through credentials that may only read records:
   * creating the id record fails. Counts reads of the id record.
   */
  private static final class OldReadOnlyStore implements Backend {
    final Backend base;
    final AtomicInteger idReads = new AtomicInteger();
    final AtomicInteger refusedCreates = new AtomicInteger();
    volatile boolean writable;
    private final RecordStore records;

    OldReadOnlyStore(Backend base) {
      this.base = base;
      this.records = new ForwardingRecordStore(base.records()) {
        @Override
        public boolean create(String key, byte[] content) throws IOException {
          if (!writable) {
            refusedCreates.incrementAndGet();
            throw new IOException(describe() + ": access denied creating record " + key + " (read-only credentials)");
          }
          return inner.create(key, content);
        }

        @Override
        public Optional<byte[]> read(String key) throws IOException {
          if (key.equals(StoreIdentity.RECORD)) {
            idReads.incrementAndGet();
          }
          return inner.read(key);
        }
      };
    }

    @Override
    public ChunkStore chunks() {
      return base.chunks();
    }

    @Override
    public RefStore refs() {
      return base.refs();
    }

    @Override
    public RecordStore records() {
      return records;
    }

    @Override
    public String uri() {
      return base.uri();
    }

    @Override
    public void close() throws IOException {
      base.close();
    }
  }
}
