package io.ferry.read;

import io.ferry.id.ChunkId;
import io.ferry.pack.PackIndex;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;

/**
 * Finds chunks for a reader: in a given set of packs (the packs a version lists) first, else as loose objects.
 * Immutable and thread-safe. When a chunk sits in several of the packs, one copy is chosen; {@code verify} checks
 * every copy through the pack indexes themselves.
 */
public final class Locator {
  private final Map<ChunkId, PackIndex.Entry> packed;

  private Locator(Map<ChunkId, PackIndex.Entry> packed) {
    this.packed = packed;
  }

  /** A locator over the chunks of these packs' indexes. */
  public static Locator of(Collection<PackIndex> packs) {
    Map<ChunkId, PackIndex.Entry> all = new HashMap<>();
    for (PackIndex p : packs) {
      all.putAll(p.entries());
    }
    return new Locator(all);
  }

  /** Where the chunk's frame is: its entry in one of the packs, else the loose object of that id. */
  public Location locate(ChunkId id) {
    PackIndex.Entry e = packed.get(id);
    if (e != null) {
      return Location.inPack(id, e.pack(), e.offset(), e.length());
    }
    return Location.loose(id);
  }

  /** Whether the chunk is in one of this locator's packs. */
  public boolean inPacks(ChunkId id) {
    return packed.containsKey(id);
  }
}
