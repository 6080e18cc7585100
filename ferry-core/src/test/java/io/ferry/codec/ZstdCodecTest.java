package io.ferry.codec;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ZstdCodecTest {
  private final ZstdCodec codec = new ZstdCodec(3);

  private static byte[] compressible(int n, long seed) {
    Random r = new Random(seed);
    byte[] b = new byte[n];
    for (int i = 0; i < n; i++) {
      b[i] = (byte) (r.nextInt(16) * (i % 7));
    }
    return b;
  }

  /**
   * A heap chunk's payload is the caller's: the thread's next encode neither overwrites it nor reuses its array. An
   * array kept per thread for the next encode stays behind when the thread encodes no more, outside any budget: a
   * push's workers each kept the output of the biggest chunk they had encoded (DeriveMemoryTest ran out of heap so).
   */
  @Test
  void aHeapChunksPayloadOutlivesTheThreadsNextEncode() throws IOException {
    byte[] a = compressible(1 << 20, 1);
    byte[] b = compressible(1 << 20, 2);
    ByteBuffer first = codec.encode(ByteBuffer.wrap(a), ChunkHint.OPAQUE);
    byte[] firstCopy = new byte[first.remaining()];
    first.duplicate().get(firstCopy);
    ByteBuffer second = codec.encode(ByteBuffer.wrap(b), ChunkHint.OPAQUE);

    assertThat(first.hasArray() && second.hasArray()).isTrue();
    assertThat(second.array() == first.array()).as("the second payload reuses the first's array").isFalse();
    assertThat(first.equals(ByteBuffer.wrap(firstCopy))).as("the first payload is unchanged").isTrue();
    ByteBuffer out = ByteBuffer.allocate(a.length);
    codec.decode(first, out);
    assertThat(out.array()).isEqualTo(a);
  }
}
