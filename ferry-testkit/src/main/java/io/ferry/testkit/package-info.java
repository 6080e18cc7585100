/**
 * Test support every backend module uses in test scope: the abstract contract tests {@link
 * io.ferry.testkit.ChunkStoreContract} and {@link io.ferry.testkit.RefStoreContract} (one hook each, a few-line
 * subclass per backend), the child process {@link io.ferry.testkit.RefMover} for multi-process tests, the
 * fault-injecting {@link io.ferry.testkit.FaultyChunkStore}, a seeded {@link io.ferry.testkit.TestRandom} that reports
 * its seed on failure, and {@link io.ferry.testkit.DirectoryState} for "nothing changed" assertions.
 */
package io.ferry.testkit;
