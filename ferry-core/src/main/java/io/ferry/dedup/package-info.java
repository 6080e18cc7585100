/**
 * Store-wide dedup of small chunks: an index from small chunk ids to the packs that hold them, kept incrementally
 * (a base table plus one delta per push) and consulted by every push as a hint (docs/small-chunk-index.md).
 */
package io.ferry.dedup;
