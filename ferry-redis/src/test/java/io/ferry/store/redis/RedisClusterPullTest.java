package io.ferry.store.redis;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.repo.Repository;
import io.ferry.testkit.RedisServer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pulls through a real three-master Redis Cluster (redis-server --cluster-enabled yes, joined by redis-cli --cluster
 * create on loopback ports): the parts spread over every master, a warm pull reads nothing from the store, and a
 * pull survives one master killed midway, and one that starts with that master down warns once; the cache's stats
 * then give the other masters' figures and name what they leave out.
 */
class RedisClusterPullTest {
  @TempDir Path scratch;

  @Test
  void warmPullThroughAClusterAndOneMasterKilledMidway() throws Exception {
    PullFixture f = new PullFixture(scratch, 11);
    List<RedisServer> nodes = RedisServer.startCluster(scratch.resolve("cluster"), 3);
    try {
      String uri = "redis-cluster://127.0.0.1:" + nodes.get(0).port() + ",127.0.0.1:" + nodes.get(1).port();
      CacheSettings s = CacheSettings.fromSettings(Map.of("redis.uri", uri, "redis.part-size", "256k",
          "redis.timeout", "2s"));
      Warnings w = new Warnings();
      try (Repository repo = f.open(s, w)) {
        f.pull(repo, scratch.resolve("cold"), null);
      }
      assertThat(w.warnings).isEmpty();
      for (RedisServer n : nodes) {
        assertThat(Long.parseLong(n.command("DBSIZE"))).as("keys on master %d", n.port()).isGreaterThan(10);
      }
      try (Repository repo = f.open(s, w)) {
        f.pull(repo, scratch.resolve("warm"), null);
        assertThat(f.lastStore.reads.get()).as("reads of the store by a warm pull").isZero();
      }
      assertThat(w.warnings).isEmpty();
      try (Repository repo = f.open(s, w)) {
        f.pull(repo, scratch.resolve("killed"), nodes.get(2)::kill);
        assertThat(f.lastStore.reads.get()).as("what the dead master held came from the store").isPositive();
      }
      assertThat(w.warnings).hasSize(1);
      // a pull that starts with the master still down: one warning, that the cache cannot be used, not a second one
      // claiming that CONFIG was refused ("cannot check maxmemory ... caching anyway")
      Warnings again = new Warnings();
      try (Repository repo = f.open(s, again)) {
        f.pull(repo, scratch.resolve("down"), null);
      }
      assertThat(again.warnings).as("%s", again.warnings).hasSize(1);
      assertThat(again.warnings.get(0)).doesNotContain("cannot check maxmemory");
      // the stats of a cluster with a master down: the others' figures, and the master and keys left out named (it
      // failed with "Unable to connect to" the dead master)
      RedisCache.Report r = RedisCache.stats(s);
      assertThat(r.servers()).isEqualTo(2);
      assertThat(r.unavailable()).anySatisfy(u -> assertThat(u).startsWith("master 127.0.0.1:" + nodes.get(2).port()
          + " did not answer"));
      assertThat(r.usedMemory()).isPositive();
      if (r.stores().isEmpty()) {
        assertThat(r.unavailable()).anySatisfy(u -> assertThat(u).startsWith("key ferry:stores"));
      }
    } finally {
      nodes.forEach(RedisServer::kill);
    }
  }
}
