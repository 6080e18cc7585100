package io.ferry.pack;

import io.ferry.id.ChunkId;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
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

  /** The pack bytes, its id and its index; the writer is empty afterwards. */
  public Finished finish() {
    List<ChunkId> ids = new ArrayList<>(frames.keySet());
    ids.sort(null);
    ByteArrayOutputStream out = new ByteArrayOutputStream((int) Math.min(Integer.MAX_VALUE - 64,
        bytes + PackIndex.HEADER_LENGTH + PackIndex.FOOTER_LENGTH + (long) ids.size() * PackIndex.ENTRY_LENGTH));
    ByteBuffer header = ByteBuffer.allocate(PackIndex.HEADER_LENGTH).order(ByteOrder.LITTLE_ENDIAN);
    header.putInt(PackIndex.MAGIC).put((byte) PackIndex.VERSION);
    out.writeBytes(header.array());
    long[] offsets = new long[ids.size()];
    for (int i = 0; i < ids.size(); i++) {
      offsets[i] = out.size();
      out.writeBytes(frames.get(ids.get(i)));
    }
    long indexOffset = out.size();
    ByteBuffer index = ByteBuffer.allocate(ids.size() * PackIndex.ENTRY_LENGTH).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < ids.size(); i++) {
      index.put(ids.get(i).toBytes()).putLong(offsets[i]).putInt(frames.get(ids.get(i)).length);
    }
    index.flip();
    int crc = io.ferry.chunk.Frame.crc32c(index);
    out.writeBytes(index.array());
    ByteBuffer footer = ByteBuffer.allocate(PackIndex.FOOTER_LENGTH).order(ByteOrder.LITTLE_ENDIAN);
    footer.putLong(indexOffset).putInt(ids.size()).putInt(crc).putInt(0).putInt(PackIndex.MAGIC);
    out.writeBytes(footer.array());
    byte[] pack = out.toByteArray();
    ChunkId packId = ChunkId.of(pack);
    Map<ChunkId, PackIndex.Entry> entries = new LinkedHashMap<>();
    for (int i = 0; i < ids.size(); i++) {
      entries.put(ids.get(i), new PackIndex.Entry(packId, offsets[i], frames.get(ids.get(i)).length));
    }
    frames.clear();
    bytes = 0;
    return new Finished(packId, ByteBuffer.wrap(pack), new PackIndex(packId, entries));
  }

  /** A finished pack. */
  public record Finished(ChunkId id, ByteBuffer bytes, PackIndex index) {}
}
