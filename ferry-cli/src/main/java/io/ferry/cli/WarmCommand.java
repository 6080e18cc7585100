package io.ferry.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.error.InvalidInputException;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.VerifyReport;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.StoreOptions;
import io.ferry.store.redis.CacheCounters;
import io.ferry.store.redis.CacheListener;
import io.ferry.store.redis.CacheSettings;
import io.ferry.store.redis.RedisCache;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "warm", description = "Load a version into the Redis cache ahead of a deploy: read every chunk"
    + " through the cache (checking its SHA-256), so that later pulls are served from Redis.",
    footer = {"%nExit code 1 if the cache did not take every chunk (down, full write queue, not evicting, or the"
        + " version larger than its maxmemory),"
        + " 3 if a chunk is corrupt in the store.",
        "%nExamples:%n  ferry warm llama-7b:prod --cache redis://cache:6379",
        "  FERRY_CACHE=redis-cluster://10.0.0.1:6379,10.0.0.2:6379 \\", "      ferry warm llama-7b:prod"})
final class WarmCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "REF") String ref;

  @Override
  int run() throws IOException {
    String uri = cacheUri();
    if (uri == null) {
      throw new InvalidInputException("no cache to warm: give --cache redis://host:port or set FERRY_CACHE");
    }
    CacheSettings settings = cacheSettings(uri).withWriteMode(CacheSettings.WriteMode.WAIT)
        .withTimeoutAtLeast(java.time.Duration.ofSeconds(2));
    List<String> warnings = new CopyOnWriteArrayList<>();
    AtomicReference<CacheCounters> totals = new AtomicReference<>(CacheCounters.empty());
    CacheListener printing = cacheListener();
    CacheListener listener = new CacheListener() {
      @Override
      public void warning(String message) {
        warnings.add(message);
        printing.warning(message);
      }

      @Override
      public void notice(String message) {
        // said, but the cache stays in use: what was dropped or not filled by others is read and written again
        printing.warning(message);
      }

      @Override
      public void closed(CacheCounters t) {
        totals.set(t);
      }
    };
    long t0 = System.nanoTime();
    VersionRef v;
    VerifyReport r;
    RedisCache.Memory before;
    try (Repository repo = RedisCache.open(storeLocation(), StoreOptions.existing().withSettings(settings()),
        repositoryOptions(), settings, listener)) {
      if (!warnings.isEmpty()) {
        // the cache could not be used from the start (down, refusing the password, not Redis): reading the whole
        // version from the store would fill nothing
        throw new InvalidInputException("nothing was warmed: the cache cannot be used (see the warning above)");
      }
      v = repo.resolve(ref);
      before = memory(settings);
      r = repo.verify(ref, progress());
    }
    // read once the cache closed: its writes have landed and its counters are final
    RedisCache.Memory after = memory(settings);
    long wrote = totals.get().bytesWritten();
    if (after != null && after.maxMemory() > 0 && wrote > after.maxMemory()) {
      // certain, not a guess: what this warm wrote alone is more than the cache holds, so part of the version is not
      // in it, whoever else uses the cache. Saying only that keys were evicted, with exit 0, let a warm of a version
      // four times the cache's size print "warmed" as if the deploy would be served from Redis
      String message = "cache " + settings.describe() + " cannot hold this version: the warm wrote "
          + Format.bytes(wrote) + ", more than its maxmemory of " + Format.bytes(after.maxMemory()) + ", so at least "
          + Format.bytes(wrote - after.maxMemory()) + " of it is not in the cache (evicted); pulls read that from the"
          + " store. Give the cache a maxmemory of about 1.1 x the version's stored size (docs/redis.md)";
      warnings.add(message);
      printing.warning(message);
    } else if (before != null && after != null && after.evictedKeys() > before.evictedKeys()) {
      // LRU makes room by evicting the least recently used keys, this warm's own earliest parts among them when the
      // version does not fit beside what the cache holds; said, but not a failure: in a shared cache the keys
      // evicted may all be others'
      printing.warning("cache " + settings.describe() + " evicted " + (after.evictedKeys() - before.evictedKeys())
          + " keys while this warm wrote to it (maxmemory " + (after.maxMemory() > 0
              ? Format.bytes(after.maxMemory()) : "unknown") + ", " + Format.bytes(after.usedMemory())
          + " used): parts of this version may be gone already; pulls read them from the store");
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    CacheCounters c = totals.get();
    boolean complete = warnings.isEmpty() && c.writesSkipped() == 0;
    if (json) {
      ObjectNode n = object().put("ok", r.ok() && complete).put("ref", ref).put("version", v.id().hex())
          .put("cache", settings.describe()).put("chunkCount", r.chunks()).put("bytes", r.bytes())
          .put("seconds", Math.round(seconds * 1000) / 1000.0);
      n.put("cachedPartReadCount", c.hits()).put("writtenPartCount", c.partsWritten())
          .put("writtenBytes", c.bytesWritten()).put("skippedWriteCount", c.writesSkipped())
          .put("bypassedReadCount", c.bypassed());
      n.putArray("errors").addAll(r.errors().stream().map(e -> n.textNode(e)).toList());
      n.putArray("warnings").addAll(warnings.stream().map(e -> n.textNode(e)).toList());
      printJson(n);
    } else {
      for (String e : r.errors()) {
        err().println("ferry warm: " + e);
      }
      // a warm that failed or left parts out says so here too: stdout alone (a deploy script's log) said "warmed"
      out().printf("%s %s (version %s): %d chunks, %s in %.1f s through %s%n",
          r.ok() && complete ? "warmed" : "did not fully warm", Format.printable(ref), v.id().shortHex(12), r.chunks(),
          Format.bytes(r.bytes()), seconds, settings.describe());
      // hits count every part read the cache answered, a part this warm wrote and then read again included: not
      // how many parts were there before
      // reads that went past a cache that failed wrote nothing, and are not among the parts "not written" (a full
      // write queue, writes the server refused): a warm whose cache failed from the first said "0 parts written, 0
      // not written"
      out().printf("cache: %d parts written (%s), %d not written; %d part reads answered by the cache%s%n",
          c.partsWritten(), Format.bytes(c.bytesWritten()), c.writesSkipped(), c.hits(), c.bypassed() == 0 ? ""
              : "; " + c.bypassed() + " reads went past it to the store (it failed: their parts were not written)");
      if (!complete) {
        err().println("ferry warm: the cache did not take every part"
            + (warnings.isEmpty() ? " (its write queue stayed full)" : " (see the warning above)"));
      }
    }
    return !r.ok() ? 3 : complete ? 0 : 1;
  }

  /** The cache's memory figures, or null if they cannot be read (the warm goes on without them). */
  private static RedisCache.Memory memory(CacheSettings settings) {
    try {
      return RedisCache.memory(settings);
    } catch (IOException e) {
      return null;
    }
  }
}
