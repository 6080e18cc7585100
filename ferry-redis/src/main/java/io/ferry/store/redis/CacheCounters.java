package io.ferry.store.redis;

/**
 * What one cache instance did, or (read back by {@link RedisCache#stats}) what every client of one store did since its
 * counters were created in Redis. Parts are the pieces of at most {@code redis.part-size} bytes that objects are cut
 * into.
 *
 * @param hits parts served from Redis
 * @param misses parts read from the store because Redis did not hold them (or held a bad copy)
 * @param bytesFromCache bytes Redis sent for the parts served (a part reused from a thread's memory counts once)
 * @param bytesFromStore bytes read from the store on misses
 * @param partsWritten parts written to Redis after a miss
 * @param bytesWritten bytes written to Redis (parts with their headers)
 * @param writesSkipped parts not written because the write queue was full or the server refused writes (a part it
 *     refused, and those read while writes were off after it)
 * @param dropped entries dropped because they failed their checks (corrupt, or a part of another copy of the object)
 * @param bypassed reads that went straight to the store because the cache was down, slow or closed
 */
public record CacheCounters(long hits, long misses, long bytesFromCache, long bytesFromStore, long partsWritten,
    long bytesWritten, long writesSkipped, long dropped, long bypassed) {
  public CacheCounters {
    for (long v : new long[] {hits, misses, bytesFromCache, bytesFromStore, partsWritten, bytesWritten, writesSkipped,
        dropped, bypassed}) {
      if (v < 0) {
        throw new IllegalArgumentException("a counter is negative: " + v);
      }
    }
  }

  /** Names of the counters, as stored in Redis and printed with {@code --json}. */
  static final String[] FIELDS = {"hits", "misses", "bytes_from_cache", "bytes_from_store", "parts_written",
      "bytes_written", "writes_skipped", "dropped", "bypassed"};

  /** All zero. */
  public static CacheCounters empty() {
    return new CacheCounters(0, 0, 0, 0, 0, 0, 0, 0, 0);
  }

  long[] values() {
    return new long[] {hits, misses, bytesFromCache, bytesFromStore, partsWritten, bytesWritten, writesSkipped,
        dropped, bypassed};
  }

  static CacheCounters of(long[] v) {
    return new CacheCounters(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]);
  }

  /** Fraction of parts served from Redis, or 0 with no read. */
  public double hitRatio() {
    long all = hits + misses;
    return all == 0 ? 0 : (double) hits / all;
  }
}
