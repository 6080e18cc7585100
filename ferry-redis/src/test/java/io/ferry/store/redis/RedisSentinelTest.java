package io.ferry.store.redis;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.repo.Repository;
import io.ferry.testkit.RedisServer;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A cache found through a real Sentinel ({@code redis-sentinel://host:port#master}). */
class RedisSentinelTest {
  @TempDir Path scratch;

  @Test
  void aPullThroughTheMasterASentinelNames() throws Exception {
    PullFixture f = new PullFixture(scratch, 21);
    try (RedisServer master = RedisServer.start(scratch.resolve("master"));
        RedisServer sentinel = RedisServer.startSentinel(scratch.resolve("sentinel"), master.port(), "cache")) {
      CacheSettings s = CacheSettings.fromSettings(Map.of("redis.uri", "redis-sentinel://127.0.0.1:"
          + sentinel.port() + "#cache", "redis.timeout", "2s"));
      Warnings w = new Warnings();
      try (Repository repo = f.open(s, w)) {
        f.pull(repo, scratch.resolve("cold"), null);
      }
      assertThat(Long.parseLong(master.command("DBSIZE"))).isGreaterThan(10);
      try (Repository repo = f.open(s, w)) {
        f.pull(repo, scratch.resolve("warm"), null);
        assertThat(f.lastStore.reads.get()).as("reads of the store by a warm pull").isZero();
      }
      assertThat(w.warnings).isEmpty();
    }
  }

  /**
   * The master killed in the middle of a warm pull, with a replica and a Sentinel watching: the pull falls back to the
   * store with one warning and completes byte-identical; the Sentinel promotes the replica, and the next client (a
   * CLI's next command) finds the cache there, holding what the old master had replicated, and reads nothing from the
   * store.
   */
  @Test
  void aFailoverInTheMiddleOfAPullFallsBackThenFindsTheCacheOnThePromotedReplica() throws Exception {
    PullFixture f = new PullFixture(scratch, 22);
    try (RedisServer master = RedisServer.start(scratch.resolve("master"));
        RedisServer replica = RedisServer.start(scratch.resolve("replica"), "--replicaof", "127.0.0.1",
            Integer.toString(master.port()))) {
      await("the replica to connect to its master", () -> info(master, "connected_slaves:").equals("1"));
      try (RedisServer sentinel = RedisServer.startSentinel(scratch.resolve("sentinel"), master.port(), "cache")) {
        await("the Sentinel to find the replica",
            () -> command(sentinel, "SENTINEL", "replicas", "cache").contains(Integer.toString(replica.port())));
        CacheSettings s = CacheSettings.fromSettings(Map.of("redis.uri", "redis-sentinel://127.0.0.1:"
            + sentinel.port() + "#cache", "redis.timeout", "2s", "redis.retry-after", "1s"));
        Warnings w = new Warnings();
        try (Repository repo = f.open(s, w)) {
          f.pull(repo, scratch.resolve("cold"), null);
        }
        long keys = Long.parseLong(master.command("DBSIZE"));
        assertThat(keys).isGreaterThan(10);
        await("the replica to hold every key",
            () -> command(replica, "DBSIZE").equals(Long.toString(keys)));
        assertThat(w.warnings).isEmpty();

        try (Repository repo = f.open(s, w)) {
          f.pull(repo, scratch.resolve("killed"), master::kill);
          assertThat(w.warnings).as("%s", w.warnings).hasSize(1);
          await("the Sentinel to promote the replica", () -> command(sentinel, "SENTINEL",
              "get-master-addr-by-name", "cache").endsWith(Integer.toString(replica.port())));
          // the same client, once its circuit lets it try again, reconnects through the Sentinel to the new master
          int[] pulls = {0};
          await("a pull by the same client to read only from the cache", () -> {
            Path dest = scratch.resolve("again-" + pulls[0]++);
            try {
              f.lastStore.reads.set(0);
              f.pull(repo, dest, null);
            } catch (IOException e) {
              throw new java.io.UncheckedIOException(e);
            }
            return f.lastStore.reads.get() == 0;
          });
          assertThat(w.recoveries).as("%s", w.recoveries).isNotEmpty();
        }
        Warnings after = new Warnings();
        try (Repository repo = f.open(s, after)) {
          f.pull(repo, scratch.resolve("promoted"), null);
          assertThat(f.lastStore.reads.get()).as("reads of the store once the replica serves the cache").isZero();
        }
        assertThat(after.warnings).as("%s", after.warnings).isEmpty();
      }
    }
  }

  private static String info(RedisServer server, String field) {
    for (String line : command(server, "INFO", "replication").split("\\R")) {
      if (line.startsWith(field)) {
        return line.substring(field.length()).strip();
      }
    }
    return "";
  }

  private static String command(RedisServer server, String... args) {
    try {
      return String.valueOf(server.command(args));
    } catch (IOException e) {
      return "";
    }
  }

  /**
   * Waits until {@code done} holds, asking every 20 ms (each question is a new connection), failing after 60 s (a
   * Sentinel failover takes a few seconds here).
   */
  private static void await(String what, BooleanSupplier done) {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (!done.getAsBoolean()) {
      assertThat(System.nanoTime() < deadline).as("waited 60 s for %s", what).isTrue();
      LockSupport.parkNanos(Duration.ofMillis(20).toNanos());
    }
  }
}
