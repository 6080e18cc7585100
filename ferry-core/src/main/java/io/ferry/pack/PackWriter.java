package io.ferry.pack;

import io.ferry.id.ChunkId;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Collects small chunk frames in memory and turns them into one pack (see {@link PackIndex} for the layout). Not
 * thread-safe: one owner adds frames, then calls {@link #finish()}. Frames are ordered by chunk id so that the same
 * set of frames always gives the same pack bytes and id.
 */
public final class PackWriter {
  private final Map<ChunkId, byte[]> frames = new HashMap<>();
  private long bytes;

  /** Adds a frame (header and payload parts); a chunk already added is ignored. */
  public void add(ChunkId id, ByteBuffer... parts) {
    if (frames.containsKey(id)) {
      return;
    }
    int n = 0;
    for (ByteBuffer p : parts) {
      n += p.remaining();
    }
    byte[] f = new byte[n];
    int at = 0;
    for (ByteBuffer p : parts) {
      int r = p.remaining();
      p.duplicate().get(f, at, r);
      at += r;
    }
    frames.put(id, f);
    bytes += n;
  }

  public boolean contains(ChunkId id) {
    return frames.containsKey(id);
  }

  /** Bytes of frames added so far. */
  public long bytes() {
    return bytes;
  }

  public boolean isEmpty() {
    return frames.isEmpty();
  }

  /**
   * The pack bytes, its id and its index; the writer is empty afterwards. The pack is written into one array of its
   * exact size, and each frame is let go once copied there: a growing buffer and its copy held the pack three times
   * over at its end, some 60 MB a pack of 16 MiB while the push's other workers went on filling theirs.
   */
  public Finished finish() {
    ChunkId[] ids = frames.keySet().toArray(new ChunkId[0]);
    Arrays.sort(ids);
    long total = PackIndex.HEADER_LENGTH + bytes + (long) ids.length * PackIndex.ENTRY_LENGTH
        + PackIndex.FOOTER_LENGTH;
    if (total > Integer.MAX_VALUE - 64) {
      throw new IllegalStateException("a pack of " + ids.length + " frames would be " + total + " bytes");
    }
    byte[] pack = new byte[(int) total];
    ByteBuffer out = ByteBuffer.wrap(pack).order(ByteOrder.LITTLE_ENDIAN);
    // the header: magic, version, reserved zeros
    out.putInt(PackIndex.MAGIC).put((byte) PackIndex.VERSION);
    out.position(PackIndex.HEADER_LENGTH);
    long[] offsets = new long[ids.length];
    int[] lengths = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      byte[] frame = frames.remove(ids[i]);
      offsets[i] = out.position();
      lengths[i] = frame.length;
      out.put(frame);
    }
    int indexOffset = out.position();
    for (int i = 0; i < ids.length; i++) {
      out.put(ids[i].toBytes()).putLong(offsets[i]).putInt(lengths[i]);
    }
    int crc = io.ferry.chunk.Frame.crc32c(ByteBuffer.wrap(pack, indexOffset, out.position() - indexOffset));
    out.putLong(indexOffset).putInt(ids.length).putInt(crc).putInt(0).putInt(PackIndex.MAGIC);
    ChunkId packId = ChunkId.of(pack);
    bytes = 0;
    return new Finished(packId, ByteBuffer.wrap(pack),
        new PackIndex(packId, new SortedEntries(packId, ids, offsets, lengths)));
  }

  /** A finished pack. */
  public record Finished(ChunkId id, ByteBuffer bytes, PackIndex index) {}
}
