package io.ferry.pack;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.id.ChunkId;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A pack's bytes are part of the storage format: the pack {@link PackWriter} writes into one array of its exact size
 * is byte for byte the one it wrote through a growing buffer, and the index it returns is the one a reader parses.
 */
class PackWriterTest {
  /** The id and length of {@link #frames()}'s pack, as the writer made it before it wrote into one array. */
  private static final String PACK_ID = "fb48f41449803d16a5e1daf38c86121a38cbf32c80cc1bc3df6712a79b27e1d4";
  private static final int PACK_LENGTH = 86390;

  @Test
  void samePackBytesAsBefore() throws Exception {
    PackWriter w = new PackWriter();
    List<byte[]> frames = frames();
    for (int i = 0; i < frames.size(); i++) {
      byte[] f = frames.get(i);
      w.add(ChunkId.of(f), ByteBuffer.wrap(new byte[] {(byte) i, 1, 2}), ByteBuffer.wrap(f));
    }
    PackWriter.Finished p = w.finish();
    assertThat(p.id().hex()).isEqualTo(PACK_ID);
    assertThat(p.bytes().remaining()).isEqualTo(PACK_LENGTH);
    assertThat(ChunkId.of(p.bytes())).isEqualTo(p.id());
    assertThat(w.isEmpty()).isTrue();
    assertThat(w.bytes()).isZero();

    ByteBuffer pack = p.bytes();
    ByteBuffer footer = pack.slice(pack.limit() - PackIndex.FOOTER_LENGTH, PackIndex.FOOTER_LENGTH);
    long[] f = PackIndex.parseFooter(p.id(), "test", footer, pack.remaining());
    ByteBuffer index = pack.slice((int) f[0], (int) f[1] * PackIndex.ENTRY_LENGTH);
    PackIndex parsed = PackIndex.parse(p.id(), "test", index, f[0], f[1], (int) f[2]);
    Map<ChunkId, PackIndex.Entry> entries = p.index().entries();
    assertThat(entries).hasSize(frames().size()).isEqualTo(parsed.entries());
    List<ChunkId> order = new ArrayList<>(entries.keySet());
    assertThat(order).isSorted();
    for (ChunkId id : order) {
      PackIndex.Entry e = entries.get(id);
      assertThat(entries.containsKey(id)).isTrue();
      assertThat(e.pack()).isEqualTo(p.id());
      byte[] frame = new byte[e.length()];
      pack.get((int) e.offset(), frame);
      assertThat(ChunkId.of(ByteBuffer.wrap(frame, 3, frame.length - 3))).isEqualTo(id);
    }
    assertThat(entries.get(ChunkId.of(new byte[] {9}))).isNull();
    assertThat(entries.containsKey("not an id")).isFalse();
  }

  /** 300 frames of 1 to 500 bytes from a fixed xorshift sequence, so the same bytes on every machine. */
  private static List<byte[]> frames() {
    List<byte[]> out = new ArrayList<>();
    long x = 88172645463325252L;
    for (int i = 0; i < 300; i++) {
      byte[] f = new byte[1 + i * 7 % 500];
      for (int k = 0; k < f.length; k++) {
        x ^= x << 13;
        x ^= x >>> 7;
        x ^= x << 17;
        f[k] = (byte) x;
      }
      out.add(f);
    }
    return out;
  }
}
