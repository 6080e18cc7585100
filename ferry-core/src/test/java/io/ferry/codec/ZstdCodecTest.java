package io.ferry.codec;

import static org.assertj.core.api.Assertions.assertThat;

import com.github.luben.zstd.Zstd;
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

  /**
   * Every pairing of heap and direct buffers decodes to the same bytes, into the output's remaining room at its
   * position; a heap payload into a direct output goes through a small array (a pull's and a verify's buffers are of
   * those kinds), and a payload cut short, not zstd, or decoding to another length than the frame says is an error
   * there as in the other paths.
   */
  @Test
  void heapPayloadsDecodeIntoDirectBuffersAndTheirDamageIsCaught() throws IOException {
    byte[] raw = compressible(3 << 20 | 12345, 3);
    ByteBuffer heapPayload = codec.encode(ByteBuffer.wrap(raw), ChunkHint.OPAQUE);
    byte[] payload = new byte[heapPayload.remaining()];
    heapPayload.duplicate().get(payload);
    for (boolean directIn : new boolean[] {false, true}) {
      for (boolean directOut : new boolean[] {false, true}) {
        ByteBuffer in = directIn ? ByteBuffer.allocateDirect(payload.length).put(payload).flip()
            : ByteBuffer.wrap(payload);
        ByteBuffer out = directOut ? ByteBuffer.allocateDirect(raw.length + 9) : ByteBuffer.allocate(raw.length + 9);
        out.position(4).limit(4 + raw.length);
        codec.decode(in, out);
        assertThat(out.position()).isEqualTo(4 + raw.length);
        byte[] back = new byte[raw.length];
        out.position(4);
        out.get(back);
        assertThat(back).as("in direct %s, out direct %s", directIn, directOut).isEqualTo(raw);
      }
    }
    ByteBuffer direct = ByteBuffer.allocateDirect(raw.length);
    org.assertj.core.api.Assertions.assertThatThrownBy(
        () -> codec.decode(ByteBuffer.wrap(payload, 0, payload.length - 50), direct.clear()))
        .isInstanceOf(IOException.class).hasMessageContaining("zstd");
    // a damaged magic number (damage inside the data may decode to other bytes: the frame's CRC catches that)
    byte[] damaged = payload.clone();
    damaged[0] ^= 0x55;
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> codec.decode(ByteBuffer.wrap(damaged), direct.clear()))
        .isInstanceOf(IOException.class).hasMessageContaining("zstd");
    org.assertj.core.api.Assertions.assertThatThrownBy(
        () -> codec.decode(ByteBuffer.wrap(payload), direct.clear().limit(raw.length - 1)))
        .isInstanceOf(IOException.class).hasMessageContaining("more than");
    org.assertj.core.api.Assertions.assertThatThrownBy(
        () -> codec.decode(ByteBuffer.wrap(payload), ByteBuffer.allocateDirect(raw.length + 1)))
        .isInstanceOf(IOException.class).hasMessageContaining("decodes to " + raw.length);
  }

  /**
   * The JSON of a snapshot (here 60,000 scalars, about a quarter of it left after zstd) stored by {@code auto}, as
   * every snapshot is: zstd wrote it into an output array of its whole size, beside it, which with a checkpoint of
   * 300,000 scalars (55 MB of JSON) ran a push out of the launcher's default heap. It now goes into an array sized
   * from the ratio the samples gave, and the payload is zstd's usual one, whether that guess was right, too small
   * (encoded again into an array of the bound) or so tight that no whole block of room was left over.
   */
  @Test
  void aSnapshotsJsonEncodesIntoAnArrayOfAboutItsPayloadsSize() {
    StringBuilder json = new StringBuilder("{\"format\":\"ferry-snapshot/1\",\"files\":[");
    Random r = new Random(11);
    for (int i = 0; i < 60_000; i++) {
      json.append("[\"model.layers.").append(i / 100).append(".scale_").append(i % 100)
          .append("\",\"F32\",[],").append(4 * i).append(',').append(4 * i + 4).append("],[\"")
          .append(String.format("%016x%016x%016x%016x", r.nextLong(), r.nextLong(), r.nextLong(), r.nextLong()))
          .append("\",4],");
    }
    byte[] raw = json.append("]}").toString().getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    byte[] usual = Zstd.compress(raw, 3);
    CodecPolicy.Encoded auto = CodecPolicy.AUTO.encode(ByteBuffer.wrap(raw), ChunkHint.OPAQUE, Codecs.standard());
    assertThat(auto.codec().id()).isEqualTo(ZstdCodec.ID);
    assertThat(bytes(auto.payload())).isEqualTo(usual);
    assertThat(auto.payload().array().length).isLessThan(raw.length / 2);
    double tight = (double) (usual.length + 10 - ZstdCodec.HEADROOM) / raw.length - 0.1;
    for (double expected : new double[] {0.0, tight, 1.0}) {
      ByteBuffer enc = codec.encode(ByteBuffer.wrap(raw), ChunkHint.OPAQUE, expected);
      assertThat(bytes(enc)).as("expected ratio %s", expected).isEqualTo(usual);
    }
  }

  private static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }
}
