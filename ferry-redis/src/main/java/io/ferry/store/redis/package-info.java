/**
 * The Redis cache tier: a read-through cache of immutable chunk objects in Redis or Redis Cluster, stacked over any
 * store as the {@code redis} store layer ({@link io.ferry.store.redis.RedisCacheLayer}) or opened by the CLI's
 * {@code --cache} ({@link io.ferry.store.redis.RedisCache}). See docs/redis.md.
 */
package io.ferry.store.redis;
