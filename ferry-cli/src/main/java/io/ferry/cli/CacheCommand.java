package io.ferry.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.error.InvalidInputException;
import io.ferry.store.redis.CacheCounters;
import io.ferry.store.redis.RedisCache;
import java.io.IOException;
import picocli.CommandLine.Command;

/** {@code ferry cache ...}: the Redis cache tier. */
@Command(name = "cache", description = "Inspect the Redis cache tier (see 'ferry cache stats').",
    subcommands = {CacheCommand.Stats.class})
final class CacheCommand extends GroupCommand {

  @Command(name = "stats", description = "Show what the cache holds and did: the server's memory, and per store its"
      + " entries and the hits, misses and bytes of every client since its counters were created in Redis.",
      footer = {"%nExamples:%n  ferry cache stats --cache redis://cache:6379", "  ferry cache stats --json"})
  static final class Stats extends StoreCommand {
    @Override
    int run() throws IOException {
      String uri = cacheUri();
      if (uri == null) {
        throw new InvalidInputException("no cache: give --cache redis://host:port or set FERRY_CACHE");
      }
      RedisCache.Report r = RedisCache.stats(cacheSettings(uri));
      for (String u : r.unavailable()) {
        // a cluster with a master down: the figures of the others, and what is left out
        notices().warning("cache stats leave out what could not be read: " + u);
      }
      if (json) {
        ObjectNode n = object().put("cache", r.server()).put("serverCount", r.servers())
            .put("usedMemoryBytes", r.usedMemory()).put("maxMemoryBytes", r.maxMemory()).put("policy", r.policy())
            .put("evictedKeyCount", r.evictedKeys());
        ArrayNode unavailable = n.putArray("unavailable");
        r.unavailable().forEach(unavailable::add);
        ArrayNode stores = n.putArray("stores");
        for (RedisCache.StoreEntry e : r.stores()) {
          CacheCounters c = e.counters();
          stores.addObject().put("store", e.store()).put("namespace", e.namespace()).put("partCount", e.parts())
              .put("objectCount", e.objects()).put("hitCount", c.hits()).put("missCount", c.misses())
              .put("bytesFromCache", c.bytesFromCache()).put("bytesFromStore", c.bytesFromStore())
              .put("writtenPartCount", c.partsWritten()).put("writtenBytes", c.bytesWritten())
              .put("skippedWriteCount", c.writesSkipped()).put("droppedCount", c.dropped())
              .put("bypassedCount", c.bypassed());
        }
        printJson(n);
        return 0;
      }
      out().printf("cache %s (%d server%s): %s used of %s, policy %s, %d keys evicted%n", r.server(), r.servers(),
          r.servers() == 1 ? "" : "s", Format.bytes(r.usedMemory()),
          r.maxMemory() < 0 ? "unknown" : r.maxMemory() == 0 ? "no limit" : Format.bytes(r.maxMemory()),
          r.policy(), r.evictedKeys());
      if (r.stores().isEmpty() && !r.unavailable().isEmpty()) {
        out().println("no store is shown: what could not be read (the warnings above) may hold them");
      } else if (r.stores().isEmpty()) {
        // a store registers when it first connects; a cache that refused the writes (full, no eviction) or has
        // since evicted the registration keys holds none either
        out().println("no store is registered in this cache (none has used it, or it refused or has evicted their"
            + " entries)");
      }
      for (RedisCache.StoreEntry e : r.stores()) {
        CacheCounters c = e.counters();
        out().printf("%s (namespace %s): %d parts of %d objects cached%n", Format.printable(e.store()),
            e.namespace(), e.parts(), e.objects());
        out().printf("  hits %d, misses %d (%.1f%% hits), %s served from the cache, %s read from the store%n",
            c.hits(), c.misses(), 100 * c.hitRatio(), Format.bytes(c.bytesFromCache()),
            Format.bytes(c.bytesFromStore()));
        out().printf("  %d parts written (%s), %d not written (queue full or writes refused), %d dropped (failed"
            + " checks), %d reads bypassed the cache%n", c.partsWritten(), Format.bytes(c.bytesWritten()),
            c.writesSkipped(), c.dropped(), c.bypassed());
      }
      return 0;
    }
  }
}
