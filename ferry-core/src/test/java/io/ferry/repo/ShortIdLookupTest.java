package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.NotFoundException;
import io.ferry.id.ChunkId;
import io.ferry.store.Backend;
import io.ferry.store.StoreLayers;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Resolving an abbreviated version id ({@code m@3f2a}) asks the store for the objects with that prefix where it can
 * list them so, and reads no version beyond those: a prefix that names no version of the model read every version
 * of its history (seconds at 10,000 versions).
 */
class ShortIdLookupTest {
  private static final int VERSIONS = 40;

  @TempDir Path tmp;

  @Test
  void aPrefixThatNamesNoVersionReadsNoVersionOfTheHistory() throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    Set<ChunkId> versions = new HashSet<>();
    try (Repository repo = Ferry.open(store(), StoreOptions.createIfMissing(), RepositoryOptions.defaults())) {
      for (int i = 1; i <= VERSIONS; i++) {
        Files.writeString(src.resolve("weights.bin"), "version " + i);
        versions.add(repo.push(src, "m", PushOptions.builder().build()).versionId());
      }
    }
    Backend base = Ferry.openBackend(store(), StoreOptions.existing());
    Set<String> hexes = new HashSet<>();
    base.chunks().list(o -> hexes.add(o.id().hex()));
    String absent = absentPrefix(hexes);
    ChunkId some = versions.iterator().next();
    CountingChunkStore counting = new CountingChunkStore(base.chunks());
    try (Repository fresh = Repository.open(StoreLayers.layered(base, counting), RepositoryOptions.defaults())) {
      assertThatThrownBy(() -> fresh.resolve("m@" + absent)).isInstanceOf(NotFoundException.class)
          .hasMessageContaining("model 'm' has no version starting with " + absent);
      assertThat(counting.reads.get()).as("objects read to find no version %s among %d", absent, VERSIONS)
          .isLessThanOrEqualTo(2);
      assertThat(counting.listedIds.get()).as("lookups by prefix").isPositive();
      // a version the logs name is still found, from the logs alone
      counting.listedIds.set(0);
      assertThat(fresh.resolve("m@" + some.hex().substring(0, 6)).id()).isEqualTo(some);
      assertThat(counting.listedIds.get()).as("lookups by prefix for a version the logs name").isZero();
    }
  }

  /**
   * A version too big for its kind to be told without reading it whole (its metadata incompressible, over 16 MiB
   * stored), which no ref log of the target names after a copy brought it as history: its short id is found by the
   * walk, not taken for a chunk's.
   */
  @Test
  void aVersionTooBigToTellFromAChunkUnreadIsStillFoundByItsShortId() throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    java.util.Random random = new java.util.Random(7);
    StringBuilder noise = new StringBuilder();
    while (noise.length() < 8_000_000) {
      noise.appendCodePoint(0x4e00 + random.nextInt(0x5000));
    }
    ChunkId big;
    try (Repository repo = Ferry.open(store(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
        Repository target = Ferry.open(tmp.resolve("target").toString(), StoreOptions.createIfMissing(),
            RepositoryOptions.defaults())) {
      Files.writeString(src.resolve("weights.bin"), "big");
      big = repo.push(src, "m", PushOptions.builder().metadata(java.util.Map.of("noise", noise.toString())).build())
          .versionId();
      Files.writeString(src.resolve("weights.bin"), "small");
      repo.push(src, "m", PushOptions.builder().build());
      repo.copyTo("m", target, false, io.ferry.transfer.TransferListener.NONE);
      assertThat(target.refLog("m/head")).as("the target's log names only the copied head")
          .noneMatch(e -> big.equals(e.newId()));
    }
    Backend base = Ferry.openBackend(tmp.resolve("target").toString(), StoreOptions.existing());
    assertThat(base.chunks().size(big)).as("stored size")
        .isGreaterThan(io.ferry.objects.ObjectDatabase.KIND_READ_LIMIT);
    try (Repository fresh = Repository.open(StoreLayers.layered(base, new CountingChunkStore(base.chunks())),
        RepositoryOptions.defaults())) {
      assertThat(fresh.resolve("m@" + big.hex().substring(0, 8)).id()).isEqualTo(big);
    }
  }

  /** A prefix of 4 to 6 hex digits that no object id in the store starts with. */
  private static String absentPrefix(Set<String> hexes) {
    for (int n = 0; ; n++) {
      String p = String.format("%06x", n * 7919 % 0xffffff);
      if (hexes.stream().noneMatch(h -> h.startsWith(p))) {
        return p;
      }
    }
  }

  private String store() {
    return tmp.resolve("store").toString();
  }
}
