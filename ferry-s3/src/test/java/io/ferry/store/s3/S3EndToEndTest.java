package io.ferry.store.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.CorruptObjectException;
import io.ferry.error.FerryException;
import io.ferry.format.DType;
import io.ferry.transfer.PullOptions;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.PushResult;
import io.ferry.repo.Results.VerifyReport;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.DirectoryState;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.TestRandom;
import io.ferry.transfer.TransferListener;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * Push and pull through {@link Repository} on S3Proxy: byte-identical round trips with parallel ranged reads, the
 * same through a proxy that injects 5xx answers, delays, dropped connections, lost responses and cut bodies, a clear
 * error when retries run out, and bytes altered inside the store detected as corruption.
 */
class S3EndToEndTest {
  @RegisterExtension final TestRandom random = new TestRandom();
  @TempDir Path scratch;

  static Path model;
  static LocalS3 s3;

  @BeforeAll
  static void writeModel(@TempDir Path dir) throws Exception {
    s3 = LocalS3.shared();
    model = dir.resolve("model");
    // ~12 MB in 3 shards: tensors up to ~1.5 MB, so with a 256 KiB part size every big chunk is several ranges
    ModelGenerator.writeHfModel(model, ModelGenerator.transformer(12L << 20, DType.BF16, 7), 5L << 20);
  }

  @AfterAll
  static void noop() {}

  /** Settings for a store reached at {@code endpoint}: small parts so that reads split, short backoff. */
  private static Map<String, String> settings(URI endpoint, int attempts) {
    Map<String, String> s = new HashMap<>();
    s.put(S3Settings.ENDPOINT, endpoint.toString());
    s.put(S3Settings.PART_SIZE, Integer.toString(256 * 1024));
    s.put(S3Settings.MAX_ATTEMPTS, Integer.toString(attempts));
    s.put(S3Settings.BACKOFF_MS, "5");
    s.put(S3Settings.SOCKET_TIMEOUT_MS, "1500");
    return s;
  }

  private static Repository open(URI store, Map<String, String> settings) throws IOException {
    return Repository.open(S3Backend.open(store, new StoreOptions(true, settings), n -> null),
        RepositoryOptions.defaults().withParallelism(8));
  }

  private static PushResult push(Repository repo, String target) throws IOException {
    return repo.push(model, target, PushOptions.builder().message("test").build());
  }

  @Test
  void pushThenPullIsByteIdenticalAndVerifies() throws Exception {
    URI store = LocalS3.freshStoreUri("e2e");
    try (Repository repo = open(store, settings(s3.endpoint(), 10))) {
      PushResult first = push(repo, "llama:prod");
      assertThat(first.newChunks()).isPositive();
      PushResult again = push(repo, "llama");
      assertThat(again.upToDate()).as("same bytes again: up to date").isTrue();
      Path dest = scratch.resolve("pulled");
      repo.pull("llama:prod", dest, PullOptions.defaults().withVerify(true));
      assertThat(DirectoryState.of(dest)).isEqualTo(DirectoryState.of(model));
      VerifyReport v = repo.verify("llama:prod", TransferListener.NONE);
      assertThat(v.errors()).isEmpty();
      assertThat(repo.refLog("llama/tags/prod")).hasSize(1);
    }
  }

  @Test
  void pushAndPullCompleteThroughFaultsAndWriteNothingCorrupt() throws Exception {
    URI store = LocalS3.freshStoreUri("faults");
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint())) {
      Random r = new Random(random.random().nextLong());
      // the transient faults (a 501 is an answer about the request, not a fault to retry)
      FaultyHttpProxy.Fault[] kinds = java.util.EnumSet.range(FaultyHttpProxy.Fault.NONE,
          FaultyHttpProxy.Fault.TRUNCATE_BODY).toArray(new FaultyHttpProxy.Fault[0]);
      int[] next = {0};
      proxy.delayMillis(2000);
      // one request in five misbehaves; the kinds take turns, so that every kind is dealt in every run
      proxy.policy((method, target, n) -> {
        synchronized (r) {
          if (r.nextInt(100) >= 20) {
            return FaultyHttpProxy.Fault.NONE;
          }
          FaultyHttpProxy.Fault f = kinds[1 + next[0] % (kinds.length - 1)];
          if (f == FaultyHttpProxy.Fault.TRUNCATE_BODY && !method.equals("GET")) {
            return FaultyHttpProxy.Fault.ERROR_500; // cutting a body short waits for a GET
          }
          next[0]++;
          return f;
        }
      });
      Path dest = scratch.resolve("pulled");
      try (Repository repo = open(store, settings(proxy.endpoint(), 12))) {
        push(repo, "llama:prod");
        repo.pull("llama:prod", dest, PullOptions.defaults());
      }
      assertThat(DirectoryState.of(dest)).as("pulled through faults: " + proxy.summary())
          .isEqualTo(DirectoryState.of(model));
      System.out.println("faults: " + proxy.summary());
      for (FaultyHttpProxy.Fault f : kinds) {
        assertThat(proxy.dealt(f)).as("%s dealt: %s", f, proxy.summary()).isPositive();
      }
    }
    try (Repository clean = open(store, settings(s3.endpoint(), 3))) {
      VerifyReport v = clean.verify("llama:prod", TransferListener.NONE);
      assertThat(v.errors()).as("every stored object verifies").isEmpty();
      assertThat(clean.refLog("llama/head")).as("one move despite lost responses").hasSize(1);
    }
  }

  @Test
  void whenRetriesRunOutTheErrorNamesTheObjectAndTheEndpoint() throws Exception {
    URI store = LocalS3.freshStoreUri("give-up");
    try (Repository repo = open(store, settings(s3.endpoint(), 3))) {
      push(repo, "llama");
    }
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint())) {
      AtomicReference<String> failing = new AtomicReference<>();
      proxy.policy((method, target, n) -> {
        if (method.equals("GET") && target.contains("/objects/")) {
          failing.compareAndSet(null, target);
          return FaultyHttpProxy.Fault.ERROR_503;
        }
        return FaultyHttpProxy.Fault.NONE;
      });
      Path dest = scratch.resolve("pulled");
      try (Repository repo = open(store, settings(proxy.endpoint(), 3))) {
        assertThatThrownBy(() -> repo.pull("llama", dest, PullOptions.defaults()))
            .isInstanceOf(IOException.class)
            .hasMessageContaining(store.toString() + "/objects/")
            .hasMessageContaining("endpoint " + proxy.endpoint())
            .hasMessageContaining("3 attempts")
            .hasMessageContaining("503")
            .satisfies(e -> System.out.println("gave up: " + e.getMessage()));
      }
      assertThat(proxy.dealt(FaultyHttpProxy.Fault.ERROR_503)).isGreaterThanOrEqualTo(3);
      assertThat(dest).satisfiesAnyOf(d -> assertThat(d).doesNotExist(), d -> assertThat(d).isEmptyDirectory());
    }
  }

  @Test
  void bytesAlteredInsideTheStoreAreCorruptionWithExitCode3() throws Exception {
    URI store = LocalS3.freshStoreUri("corrupt");
    try (Repository repo = open(store, settings(s3.endpoint(), 3))) {
      push(repo, "llama");
    }
    String prefix = store.getPath().substring(1) + "/objects/";
    try (S3Client raw = s3.client()) {
      S3Object biggest = raw.listObjectsV2Paginator(b -> b.bucket(LocalS3.BUCKET).prefix(prefix)).contents()
          .stream().max(Comparator.comparingLong(S3Object::size)).orElseThrow();
      byte[] bytes = raw.getObjectAsBytes(b -> b.bucket(LocalS3.BUCKET).key(biggest.key())).asByteArray();
      int at = bytes.length / 2;
      bytes[at] ^= 0x10;
      raw.putObject(b -> b.bucket(LocalS3.BUCKET).key(biggest.key()), RequestBody.fromBytes(bytes));
      String id = biggest.key().substring(prefix.length());
      Path dest = scratch.resolve("pulled");
      try (Repository repo = open(store, settings(s3.endpoint(), 3))) {
        assertThatThrownBy(() -> repo.pull("llama", dest, PullOptions.defaults()))
            .isInstanceOfSatisfying(CorruptObjectException.class,
                e -> assertThat(e.kind()).isEqualTo(FerryException.Kind.INTEGRITY))
            .hasMessageContaining(id.substring(0, 12))
            .hasMessageContaining(store.toString())
            .satisfies(e -> System.out.println("corrupt: " + e.getMessage()));
        assertThat(FerryException.Kind.INTEGRITY.exitCode()).isEqualTo(3);
        VerifyReport v = repo.verify("llama", TransferListener.NONE);
        assertThat(v.errors()).anySatisfy(err -> assertThat(err).contains(id.substring(0, 12)));
      }
      if (Files.exists(dest)) {
        try (var files = Files.walk(dest)) {
          assertThat(files.filter(Files::isRegularFile).map(p -> p.getFileName().toString()))
              .as("no final file from a corrupt pull").allMatch(n -> n.startsWith(".") || n.endsWith(".tmp"));
        }
      }
    }
  }

  /**
   * On a bucket with versioning, gc's deletes only add delete markers and the bytes stay stored as noncurrent
   * versions: gc said it freed them. It now says what the bucket does and what to add (a lifecycle rule for
   * noncurrent versions); on a bucket without versioning it says nothing of the kind.
   */
  @Test
  void gcOnAVersionedBucketSaysItsDeletesFreeNoSpace() throws Exception {
    URI versioned = LocalS3.freshStoreUri("versioned");
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint())) {
      proxy.policy((method, target, n) -> method.equals("GET") && target.contains("?versioning")
          ? FaultyHttpProxy.Fault.VERSIONING_ENABLED : FaultyHttpProxy.Fault.NONE);
      for (boolean enabled : new boolean[] {false, true}) {
        java.util.List<String> notices = new java.util.concurrent.CopyOnWriteArrayList<>();
        Map<String, String> settings = settings(enabled ? proxy.endpoint() : s3.endpoint(), 3);
        try (Repository repo = Repository.open(S3Backend.open(versioned, new StoreOptions(true, settings),
            n -> null), RepositoryOptions.defaults().withParallelism(4).withNotices(notices::add))) {
          repo.gc(java.time.Duration.ZERO, false);
        }
        if (enabled) {
          assertThat(proxy.dealt(FaultyHttpProxy.Fault.VERSIONING_ENABLED)).isOne();
          assertThat(notices).anySatisfy(m -> assertThat(m)
              .contains("bucket '" + LocalS3.BUCKET + "' of " + versioned + " (endpoint " + proxy.endpoint()
                  + ") has versioning Enabled: gc's deletes only add delete markers")
              .contains("NoncurrentVersionExpiration").contains("for the prefix '" + versioned.getPath().substring(1)
                  + "/'"));
        } else {
          assertThat(notices).noneSatisfy(m -> assertThat(m).contains("versioning"));
        }
      }
    }
  }
}
