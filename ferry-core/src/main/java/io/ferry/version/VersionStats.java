package io.ferry.version;

/**
 * Figures recorded when a version was pushed, so that {@code log} and {@code ls} need not read snapshots.
 *
 * @param logicalBytes sum of the version's file sizes
 * @param newStoredBytes bytes this push added to the store (chunk frames, packs, snapshot; not the version record
 *     itself); the push reports the same figure
 * @param newChunks chunks this push added
 * @param files number of files
 * @param tensors number of tensors
 */
public record VersionStats(long logicalBytes, long newStoredBytes, long newChunks, int files, int tensors) {}
