/**
 * Verified reads of stored data. {@link io.ferry.read.ChunkReader} is the one path by which core reads a chunk frame
 * from a {@link io.ferry.store.ChunkStore} (pull, cat, copy, verify and the loading API all go through it); a
 * {@link io.ferry.read.Locator} turns a chunk id into a {@link io.ferry.read.Location}, a loose object or a range of a
 * pack; {@link io.ferry.read.ModelReader} reads the tensors and files of one version into buffers. This package
 * depends on the storage layers below it and on nothing in {@code repo} or {@code transfer}.
 */
package io.ferry.read;
