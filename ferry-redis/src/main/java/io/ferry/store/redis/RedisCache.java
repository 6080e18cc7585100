package io.ferry.store.redis;

import io.ferry.Ferry;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.Backend;
import io.ferry.store.StoreLayers;
import io.ferry.store.StoreOptions;
import io.lettuce.core.RedisCommandExecutionException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The Redis cache tier's public API: open a repository whose reads go through a cache, and read what a cache holds.
 * What the CLI's {@code --cache}, {@code ferry warm} and {@code ferry cache stats} use.
 */
public final class RedisCache {
  private RedisCache() {}

  /**
   * Opens the store like {@link Ferry#open(String, StoreOptions, RepositoryOptions)}, with a {@link RedisChunkCache}
   * stacked over its chunks (outermost, over any layer its settings name). Redis being down does not fail this: the
   * listener hears one warning and reads go to the store.
   *
   * @throws IOException if the store cannot be opened
   */
  public static Repository open(String store, StoreOptions storeOptions, RepositoryOptions options,
      CacheSettings cache, CacheListener listener) throws IOException {
    Backend base = Ferry.openBackend(store, storeOptions.withClock(options.clock()));
    RedisChunkCache cached;
    try {
      cached = RedisChunkCache.open(base.chunks(), cache, listener);
    } catch (RuntimeException e) {
      try {
        base.close();
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
    return Repository.open(StoreLayers.layered(base, cached), options);
  }

  /**
   * What one store's namespace holds and did.
   *
   * @param namespace the store's namespace in Redis
   * @param store the store's URI, as its clients described it
   * @param counters the sum of every client's counters since the namespace's counters were created (they live in
   *     Redis, in {@code ferry:<namespace>:stats}, and may be evicted like any key)
   * @param parts part keys the namespace holds now
   * @param objects objects whose first part it holds now
   */
  public record StoreEntry(String namespace, String store, CacheCounters counters, long parts, long objects) {}

  /**
   * What a cache server (or cluster) holds.
   *
   * @param server the cache URI, without password
   * @param servers servers asked: 1, or the cluster's masters
   * @param usedMemory {@code used_memory} summed over the servers
   * @param maxMemory {@code maxmemory} summed over the servers (0: unlimited), or -1 if CONFIG is refused
   * @param policy {@code maxmemory-policy} of the first server, or "unknown"
   * @param evictedKeys {@code evicted_keys} summed over the servers
   * @param stores every store that used this cache, by namespace
   * @param unavailable what could not be read, each with why: a cluster's masters that did not answer (their memory,
   *     keys and counters are not in the figures) and keys held there; empty when the report is whole
   */
  public record Report(String server, int servers, long usedMemory, long maxMemory, String policy, long evictedKeys,
      List<StoreEntry> stores, List<String> unavailable) {}

  /**
   * Reads a cache's figures. Lists the keys of every namespace (SCAN, about one round trip per thousand keys).
   *
   * @throws IOException if Redis cannot be reached
   */
  public static Report stats(CacheSettings cache) throws IOException {
    RedisLink l = connect(cache);
    try (l) {
      // a cluster's master that does not answer leaves out its part of the figures, named, rather than failing the
      // whole report: it failed with "Unable to connect to <the master>", when the report matters most
      Map<String, String> down = new java.util.LinkedHashMap<>();
      List<String> unreadable = new ArrayList<>();
      Memory m = memory(l, down);
      List<StoreEntry> stores = new ArrayList<>();
      java.util.Collection<Blob> members;
      try {
        members = readable(down, unreadable, "key " + STORES + " (the stores)", () -> l.sync().smembers(STORES));
      } catch (RedisCommandExecutionException e) {
        if (!wrongType(e)) {
          throw e;
        }
        throw new IOException("cache " + cache.describe() + ": key " + STORES + " (the namespaces of Ferry's stores)"
            + " holds a " + l.sync().type(STORES) + ", not a set: it was not written by Ferry; delete it (each"
            + " store's next client adds its namespace again)", e);
      }
      if (members == null) {
        members = List.of();
      }
      for (Blob member : members) {
        String ns = member.text();
        if (!ns.matches(CacheSettings.NAMESPACE)) {
          continue; // not a namespace Ferry writes (and '*' or '?' in it would widen the SCAN below)
        }
        String prefix = "ferry:" + ns + ":";
        // keys someone else wrote with another type, or counters that are not numbers, are shown as unknown and
        // zero: they used to fail the whole report with a bare WRONGTYPE or NumberFormatException message
        Blob store = readable(down, unreadable, "key " + prefix + "store (the store's name)",
            () -> orNull(() -> l.sync().get(prefix + "store")));
        Map<String, Blob> h = readable(down, unreadable, "key " + prefix + "stats (the store's counters)",
            () -> orNull(() -> l.sync().hgetall(prefix + "stats")));
        long[] v = new long[CacheCounters.FIELDS.length];
        for (int i = 0; i < v.length; i++) {
          Blob b = h == null ? null : h.get(CacheCounters.FIELDS[i]);
          v[i] = b == null ? 0 : count(b.text());
        }
        AtomicLong parts = new AtomicLong();
        AtomicLong objects = new AtomicLong();
        l.scan(prefix + "*", k -> {
          if (k.length() > prefix.length() + 64 && !k.startsWith(prefix + "fill:")) {
            parts.incrementAndGet();
            if (k.endsWith(":0")) {
              objects.incrementAndGet();
            }
          }
        }, down);
        stores.add(new StoreEntry(ns, store == null ? "(unknown)" : store.text(), CacheCounters.of(v), parts.get(),
            objects.get()));
      }
      stores.sort(Comparator.comparing(StoreEntry::store));
      List<String> unavailable = new ArrayList<>();
      down.forEach((at, why) -> unavailable.add("master " + at + " did not answer (" + why + ")"));
      unavailable.addAll(unreadable);
      return new Report(cache.describe(), m.servers(), m.usedMemory(), m.maxMemory(), m.policy(), m.evictedKeys(),
          List.copyOf(stores), List.copyOf(unavailable));
    } catch (RuntimeException e) {
      throw new IOException("cache " + cache.describe() + ": " + RedisLink.describe(e, cache), e);
    }
  }

  /**
   * The answer of a command on one key, or null (what it could not read added to {@code unreadable}) when a cluster's
   * master is down and the command failed otherwise than by an answer of the key's type: its master may be the one
   * down, or the cluster refuses every key until it recovers (CLUSTERDOWN). With every master up, failures are thrown.
   */
  private static <T> T readable(Map<String, String> down, List<String> unreadable, String what,
      java.util.function.Supplier<T> command) {
    try {
      return command.get();
    } catch (RuntimeException e) {
      if (down.isEmpty() || e instanceof RedisCommandExecutionException x && wrongType(x)) {
        throw e;
      }
      unreadable.add(what + " could not be read (" + RedisLink.describe(e) + ")");
      return null;
    }
  }

  /** The set of every store's namespace. */
  private static final String STORES = "ferry:stores";

  /** A counter's value; 0 for what is not a count. */
  private static long count(String text) {
    try {
      return Math.max(0, Long.parseLong(text.trim()));
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  /** The command's answer, or null when its key holds another type of value. */
  private static <T> T orNull(java.util.function.Supplier<T> command) {
    try {
      return command.get();
    } catch (RedisCommandExecutionException e) {
      if (!wrongType(e)) {
        throw e;
      }
      return null;
    }
  }

  private static boolean wrongType(RedisCommandExecutionException e) {
    return String.valueOf(e.getMessage()).startsWith("WRONGTYPE");
  }

  /**
   * A cache's memory figures, summed over its servers, as in {@link Report}.
   *
   * @param servers servers asked: 1, or the cluster's masters
   * @param usedMemory {@code used_memory}
   * @param maxMemory {@code maxmemory} (0: unlimited), or -1 if CONFIG is refused
   * @param policy {@code maxmemory-policy} of the first server, or "unknown"
   * @param evictedKeys {@code evicted_keys}, since the servers started
   */
  public record Memory(int servers, long usedMemory, long maxMemory, String policy, long evictedKeys) {}

  /**
   * Reads a cache's memory figures (INFO and CONFIG GET on each server; no key is listed, unlike {@link #stats}).
   *
   * @throws IOException if Redis cannot be reached
   */
  public static Memory memory(CacheSettings cache) throws IOException {
    RedisLink l = connect(cache);
    try (l) {
      return memory(l);
    } catch (RuntimeException e) {
      throw new IOException("cache " + cache.describe() + ": " + RedisLink.describe(e, cache), e);
    }
  }

  private static RedisLink connect(CacheSettings cache) throws IOException {
    try {
      return RedisLink.connect(cache);
    } catch (RuntimeException e) {
      throw new IOException("cache " + cache.describe() + (RedisLink.refusedAtConnect(e) ? " cannot be used: "
          : " cannot be reached: ") + RedisLink.describe(e, cache), e);
    }
  }

  private static Memory memory(RedisLink l) {
    return memory(l, null);
  }

  /**
   * The memory figures; with {@code down}, of the masters that answer, the others named in it (see {@link
   * RedisLink#onEveryServer(java.util.function.Function, Map)}).
   */
  private static Memory memory(RedisLink l, Map<String, String> down) {
    List<String> infos = down == null ? l.onEveryServer(c -> c.info()) : l.onEveryServer(c -> c.info(), down);
    long used = 0;
    long evicted = 0;
    for (String info : infos) {
      used += infoField(info, "used_memory");
      evicted += infoField(info, "evicted_keys");
    }
    long max = 0;
    String policy = "unknown";
    try {
      for (Map<String, String> m : down == null ? l.configGet("maxmemory")
          : l.onEveryServer(c -> c.configGet("maxmemory"), down)) {
        max += Long.parseLong(m.getOrDefault("maxmemory", "0"));
      }
      List<Map<String, String>> p = down == null ? l.configGet("maxmemory-policy")
          : l.onEveryServer(c -> c.configGet("maxmemory-policy"), down);
      if (!p.isEmpty()) {
        policy = p.get(0).getOrDefault("maxmemory-policy", "unknown");
      }
    } catch (RuntimeException refused) {
      max = -1;
    }
    return new Memory(infos.size(), used, max, policy, evicted);
  }

  private static long infoField(String info, String name) {
    for (String line : info.split("\r?\n")) {
      if (line.startsWith(name + ":")) {
        try {
          return Long.parseLong(line.substring(name.length() + 1).trim());
        } catch (NumberFormatException e) {
          return 0;
        }
      }
    }
    return 0;
  }
}
