package io.ferry.codec;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Payloads written by the float codec as it was before its speed work ({@link LegacyFloatCodec}, a frozen copy kept
 * only for this test) must decode bit-exactly with the current codec, and the current encoder must still write the
 * same bytes (same format, same ratio), except for big BF16/F16 chunks in heap arrays, whose code is built from a
 * sample: those must decode and stay within 1% of the old size. Covers every dtype, odd and tiny lengths, constant
 * planes, special values, zstd planes and chunks large enough for the sampled-histogram path.
 */
class FloatCodecCompatTest {
  private static final String[] DTYPES = {"BF16", "F16", "F32", "F8_E4M3", "F8_E5M2", "F8_E8M0"};

  @Test
  void oldPayloadsDecodeBitExactlyAndNewEncoderWritesTheSameBytes() throws IOException {
    LegacyFloatCodec old = new LegacyFloatCodec();
    FloatCodec now = new FloatCodec();
    Random r = new Random(7);
    int cases = 0;
    for (String dtype : DTYPES) {
      for (byte[] raw : inputs(r, dtype)) {
        ChunkHint hint = new ChunkHint(dtype);
        ByteBuffer legacy = old.encode(ByteBuffer.wrap(raw), hint);
        byte[] payload = new byte[legacy.remaining()];
        legacy.duplicate().get(payload);
        String what = dtype + " input of " + raw.length + " bytes (case " + cases + ")";

        assertThat(decodeHeap(now, payload, raw.length)).as("heap decode of old payload, %s", what).isEqualTo(raw);
        assertThat(decodeDirect(now, payload, raw.length)).as("direct decode of old payload, %s", what)
            .isEqualTo(raw);

        ByteBuffer fresh = now.encode(ByteBuffer.wrap(raw), hint);
        byte[] mine = new byte[fresh.remaining()];
        fresh.duplicate().get(mine);
        if (FloatCodec.elementWidth(dtype) == 2 && raw.length / 2 >= 1 << 20) {
          // Big BF16/F16 chunks in heap arrays may take the sampled-code path (FloatCodec.encodeTwoByteSampled): a
          // code from a sample instead of the exact histogram, the same format, under 1% larger.
          assertThat(decodeHeap(now, mine, raw.length)).as("sampled-code payload decodes, %s", what).isEqualTo(raw);
          assertThat((double) mine.length).as("sampled-code payload size, %s", what)
              .isLessThanOrEqualTo(payload.length * 1.01);
        } else {
          assertThat(mine).as("new encoding equals old encoding, %s", what).isEqualTo(payload);
        }

        // The same through a direct input buffer at a non-zero position.
        ByteBuffer direct = ByteBuffer.allocateDirect(raw.length + 3);
        direct.position(3);
        direct.put(raw).position(3);
        ByteBuffer fromDirect = now.encode(direct, hint);
        byte[] mine2 = new byte[fromDirect.remaining()];
        fromDirect.duplicate().get(mine2);
        assertThat(mine2).as("new encoding of a direct input, %s", what).isEqualTo(payload);
        cases++;
      }
    }
    assertThat(cases).isGreaterThan(100);
  }

  private static byte[] decodeHeap(FloatCodec c, byte[] payload, int rawLength) throws IOException {
    // Payload at an offset inside a larger array, output at an offset too.
    byte[] big = new byte[payload.length + 11];
    System.arraycopy(payload, 0, big, 5, payload.length);
    ByteBuffer in = ByteBuffer.wrap(big, 5, payload.length).slice();
    ByteBuffer out = ByteBuffer.allocate(rawLength + 6);
    out.position(3).limit(3 + rawLength);
    c.decode(in, out);
    assertThat(out.position()).isEqualTo(3 + rawLength);
    byte[] got = new byte[rawLength];
    out.position(3);
    out.get(got);
    return got;
  }

  private static byte[] decodeDirect(FloatCodec c, byte[] payload, int rawLength) throws IOException {
    ByteBuffer in = ByteBuffer.allocateDirect(payload.length).put(payload).flip();
    ByteBuffer out = ByteBuffer.allocateDirect(rawLength + 1);
    out.position(1);
    c.decode(in, out);
    assertThat(out.position()).isEqualTo(1 + rawLength);
    byte[] got = new byte[rawLength];
    out.position(1);
    out.get(got);
    return got;
  }

  private static List<byte[]> inputs(Random r, String dtype) {
    int w = FloatCodec.elementWidth(dtype);
    List<byte[]> in = new ArrayList<>();
    int[] counts = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 100, 1000, 4099, 70_001};
    for (int n : counts) {
      for (int extra = 0; extra < w; extra += Math.max(1, w - 1)) {
        in.add(withTail(FloatData.cast(FloatData.normal(r, n, 0.02), dtype), extra, r));
      }
      in.add(FloatData.cast(FloatData.normal(r, n, 1.0), dtype));
      in.add(FloatData.cast(constant(n, 0.5f), dtype));
      in.add(FloatData.cast(special(r, n), dtype));
      byte[] random = new byte[n * w + (n % 3 == 0 ? 0 : n % w)];
      r.nextBytes(random);
      in.add(random);
      in.add(runs(r, n * w));
    }
    // Large enough (2^20 elements and more) for the sampled "Huffman hopeless" check, odd tail included.
    int big = (1 << 20) + 3;
    in.add(withTail(FloatData.cast(FloatData.normal(r, big, 0.02), dtype), w - 1, r));
    in.add(FloatData.cast(FloatData.normal(r, big, 1.0), dtype));
    in.add(runs(r, big * w));
    return in;
  }

  private static byte[] withTail(byte[] b, int extra, Random r) {
    byte[] out = java.util.Arrays.copyOf(b, b.length + extra);
    for (int i = b.length; i < out.length; i++) {
      out[i] = (byte) r.nextInt();
    }
    return out;
  }

  private static float[] constant(int n, float v) {
    float[] f = new float[n];
    java.util.Arrays.fill(f, v);
    return f;
  }

  /** NaNs (several payloads), infinities, signed zeros, denormals, extremes, mixed with ordinary weights. */
  private static float[] special(Random r, int n) {
    float[] pool = {Float.NaN, Float.intBitsToFloat(0x7FC00001), Float.intBitsToFloat(0xFF800001),
        Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE,
        Float.MIN_NORMAL, 1e-40f, -3e-39f, Float.MAX_VALUE, -Float.MAX_VALUE, 65504f, 6e-8f, 1f, -1f};
    float[] f = new float[n];
    for (int i = 0; i < n; i++) {
      f[i] = r.nextInt(3) == 0 ? (float) (r.nextGaussian() * 0.02) : pool[r.nextInt(pool.length)];
    }
    return f;
  }

  /** Bytes in long runs of few values: the planes go to zstd. */
  private static byte[] runs(Random r, int len) {
    byte[] b = new byte[len];
    int i = 0;
    while (i < len) {
      int run = 1 + r.nextInt(300);
      byte v = (byte) r.nextInt(4);
      for (int j = 0; j < run && i < len; j++) {
        b[i++] = v;
      }
    }
    return b;
  }

  @Test
  void littleEndianHeaderStillSaysVersionOne() {
    ByteBuffer p = new FloatCodec().encode(ByteBuffer.wrap(new byte[64]), new ChunkHint("BF16"));
    assertThat(p.order(ByteOrder.LITTLE_ENDIAN).get(0)).isEqualTo((byte) 1);
  }
}
