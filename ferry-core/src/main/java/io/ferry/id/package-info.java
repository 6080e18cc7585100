/**
 * {@link io.ferry.id.ChunkId}: the SHA-256 that names every stored object. The lowest package of core: errors, frames,
 * stores and versions all name objects by it, and it depends on nothing of Ferry's.
 */
package io.ferry.id;
