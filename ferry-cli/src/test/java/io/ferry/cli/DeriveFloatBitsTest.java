package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.derive.FloatBits;
import io.ferry.testkit.TestRandom;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The float conversions behind {@code derive cast}: closed-form cases, an independent reference, and numpy. */
class DeriveFloatBitsTest {
  @RegisterExtension final TestRandom random = new TestRandom();
  @TempDir Path tmp;

  /** bf16 by definition: the nearer of the two bf16 neighbours, ties to the even one; 2^128 stands for infinity. */
  static short bf16Reference(float f) {
    int bits = Float.floatToRawIntBits(f);
    if (Float.isNaN(f)) {
      return (short) ((bits >>> 16) | 0x40);
    }
    if (Float.isInfinite(f)) {
      return (short) (bits >>> 16);
    }
    int lo = bits & 0xffff0000;
    int hi = lo + 0x10000;
    double a = Math.abs((double) f);
    double vlo = Math.abs((double) Float.intBitsToFloat(lo));
    double vhi = (hi & 0x7fffffff) == 0x7f800000 ? 0x1p128 : Math.abs((double) Float.intBitsToFloat(hi));
    double dl = a - vlo;
    double dh = vhi - a;
    boolean up = dh < dl || (dh == dl && ((lo >>> 16) & 1) == 1);
    return (short) ((up ? hi : lo) >>> 16);
  }

  @Test
  void bf16EdgeValuesRoundToNearestEven() {
    int[][] cases = {
        {0x00000000, 0x0000}, {0x80000000, 0x8000}, {0x3f800000, 0x3f80},
        {0x3f808000, 0x3f80}, // 1 + 2^-8: a tie, 0x3f80 is even
        {0x3f818000, 0x3f82}, // tie, 0x3f81 is odd: up
        {0x3f808001, 0x3f81}, {0x3f807fff, 0x3f80}, {0xbf818000, 0xbf82},
        {0x00000001, 0x0000}, // smallest subnormal: far below half of bf16's smallest subnormal
        {0x00008000, 0x0000}, // tie at zero: even
        {0x00018000, 0x0002}, // subnormal tie, odd: up
        {0x007fffff, 0x0080}, // largest subnormal rounds up to the smallest normal
        {0x7f7f7fff, 0x7f7f}, {0x7f7f8000, 0x7f80}, // tie below infinity: 0x7f7f is odd, rounds to infinity
        {0x7f7fffff, 0x7f80}, // Float.MAX_VALUE overflows to infinity
        {0x7f800000, 0x7f80}, {0xff800000, 0xff80}, // infinities
        {0x7fc00000, 0x7fc0}, {0xffc00000, 0xffc0}, {0x7f800001, 0x7fc0}, // NaN stays NaN (not infinity)
    };
    for (int[] c : cases) {
      short got = FloatBits.floatToBf16(c[0]);
      assertThat(got & 0xffff).as("bf16 of 0x%08x", c[0]).isEqualTo(c[1]);
      assertThat(bf16Reference(Float.intBitsToFloat(c[0])) & 0xffff).as("reference of 0x%08x", c[0])
          .isEqualTo(c[1]);
    }
  }

  @Test
  void bf16MatchesTheReferenceOnRandomBits() {
    Random r = random.random();
    for (int i = 0; i < 2_000_000; i++) {
      int bits = r.nextInt();
      float f = Float.intBitsToFloat(bits);
      short got = FloatBits.floatToBf16(bits);
      if (Float.isNaN(f)) {
        assertThat(Float.isNaN(FloatBits.bf16ToFloat(got))).as("NaN 0x%08x stays NaN", bits).isTrue();
      } else {
        assertThat(got).as("bf16 of 0x%08x", bits).isEqualTo(bf16Reference(f));
      }
    }
  }

  @Test
  void halfClosedFormCases() {
    Object[][] cases = {
        {1.0f, 0x3c00}, {-2.0f, 0xc000}, {65504f, 0x7bff}, {65519.996f, 0x7bff}, {65520f, 0x7c00},
        {1e6f, 0x7c00}, {Float.POSITIVE_INFINITY, 0x7c00}, {Float.NEGATIVE_INFINITY, 0xfc00},
        {0x1p-14f, 0x0400}, {0x1p-24f, 0x0001}, {0x1p-25f, 0x0000}, {Math.nextUp(0x1p-25f), 0x0001},
        {3 * 0x1p-25f, 0x0002}, {1023 * 0x1p-24f, 0x03ff}, {1 + 0x1p-11f, 0x3c00}, {1 + 3 * 0x1p-11f, 0x3c02},
        {-0.0f, 0x8000}, {Float.MIN_VALUE, 0x0000},
    };
    for (Object[] c : cases) {
      float f = (Float) c[0];
      assertThat(FloatBits.floatToHalf(f) & 0xffff).as("half of %s", f).isEqualTo(c[1]);
    }
    assertThat(Float.isNaN(FloatBits.halfToFloat(FloatBits.floatToHalf(Float.NaN)))).isTrue();
    assertThat(Float.isNaN(FloatBits.halfToFloat(FloatBits.floatToHalf(Float.intBitsToFloat(0x7f800001)))))
        .isTrue();
  }

  /**
   * A half NaN widens to a quiet float NaN with its sign and payload, as numpy's astype(float32) and torch's float()
   * widen it: a signalling one (quiet bit clear, e.g. 0x7c01) stayed signalling, so a cast to f32 wrote 0x7f802000
   * where they write 0x7fc02000.
   */
  @Test
  void everyHalfNanWidensToAQuietNan() {
    for (int h = 0x7c01; h < 0x10000; h++) {
      if ((h & 0x7c00) != 0x7c00 || (h & 0x3ff) == 0) {
        continue;
      }
      int want = (h & 0x8000) << 16 | 0x7fc00000 | (h & 0x3ff) << 13;
      assertThat(Float.floatToRawIntBits(FloatBits.halfToFloat((short) h))).as("half 0x%04x", h).isEqualTo(want);
    }
  }

  @Test
  void everyHalfRoundTripsThroughFloat() {
    for (int h = 0; h < 0x10000; h++) {
      float f = FloatBits.halfToFloat((short) h);
      if (Float.isNaN(f)) {
        assertThat((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0).isTrue();
        continue;
      }
      assertThat(FloatBits.floatToHalf(f) & 0xffff).as("half 0x%04x", h).isEqualTo(h);
    }
  }

  @Test
  void halfMatchesNumpy() throws Exception {
    DeriveSupport.assumeNumpy();
    Random r = random.random();
    List<Float> values = new ArrayList<>();
    for (int h = 0; h < 0x10000; h++) { // every half, and the midpoints next to it
      float f = FloatBits.halfToFloat((short) h);
      if (!Float.isNaN(f) && !Float.isInfinite(f)) {
        values.add(f);
        values.add(Math.nextUp(f));
        values.add(Math.nextDown(f));
        float next = FloatBits.halfToFloat((short) (h + 1));
        if (!Float.isNaN(next) && !Float.isInfinite(next) && (h & 0x7fff) != 0x7bff) {
          float mid = (float) (((double) f + next) / 2);
          values.add(mid);
          values.add(Math.nextUp(mid));
          values.add(Math.nextDown(mid));
        }
      }
    }
    for (int i = 0; i < 300_000; i++) {
      int bits = (r.nextInt() & 0x87ffffff) | ((0x60 + r.nextInt(0x40)) << 23); // exponents 2^-31 .. 2^32
      values.add(Float.intBitsToFloat(bits));
    }
    values.add(65520f);
    values.add(Float.MAX_VALUE);
    values.add(Float.POSITIVE_INFINITY);
    ByteBuffer in = ByteBuffer.allocate(values.size() * 4).order(ByteOrder.LITTLE_ENDIAN);
    values.forEach(in::putFloat);
    Files.write(tmp.resolve("in.f32"), in.array());
    DeriveSupport.python(tmp, "f16", tmp.resolve("in.f32").toString(), tmp.resolve("out.f16").toString());
    ByteBuffer out = ByteBuffer.wrap(Files.readAllBytes(tmp.resolve("out.f16"))).order(ByteOrder.LITTLE_ENDIAN);
    assertThat(out.remaining()).isEqualTo(values.size() * 2);
    for (float f : values) {
      int expect = out.getShort() & 0xffff;
      assertThat(FloatBits.floatToHalf(f) & 0xffff).as("half of %s (0x%08x)", f, Float.floatToRawIntBits(f))
          .isEqualTo(expect);
    }
  }

  @Test
  void doublesRoundOnceToBf16ThroughRoundToOdd() {
    double trap = 1 + 0x1p-8 + 0x1p-30; // (float) rounds it to the tie 1 + 2^-8, which would then go down
    assertThat(FloatBits.floatToBf16(Float.floatToRawIntBits(FloatBits.roundToOdd(trap))) & 0xffff)
        .isEqualTo(0x3f81);
    Random r = random.random();
    for (int i = 0; i < 500_000; i++) {
      double d = (r.nextDouble() + 0.5) * Math.scalb(1.0, r.nextInt(260) - 140) * (r.nextBoolean() ? 1 : -1);
      if (r.nextInt(4) == 0) { // near a tie: a bf16 value plus half an ulp, nudged
        float base = FloatBits.bf16ToFloat((short) (Float.floatToRawIntBits((float) d) >>> 16));
        d = base + Math.copySign(Math.ulp(base) * 0x1p15, base) + Math.scalb(Math.ulp(base), -20) * r.nextInt(3)
            * (r.nextBoolean() ? 1 : -1);
      }
      double got = FloatBits.bf16ToFloat(FloatBits.floatToBf16(Float.floatToRawIntBits(FloatBits.roundToOdd(d))));
      assertThat(got).as("bf16 of %s", d).isEqualTo(bf16OfDouble(d));
    }
  }

  /** Nearest bf16 of a double, ties to even, by exact double arithmetic. */
  private static double bf16OfDouble(double d) {
    double a = Math.abs(d);
    int e = Math.max(Math.getExponent(a), -126);
    double ulp = Math.scalb(1.0, e - 7);
    double lo = Math.floor(a / ulp) * ulp;
    double hi = lo + ulp;
    double dl = a - lo;
    double dh = hi - a;
    boolean even = ((long) (lo / ulp) & 1) == 0;
    double v = dl < dh || (dl == dh && even) ? lo : hi;
    if (v >= 0x1p128) {
      v = Double.POSITIVE_INFINITY;
    }
    return Math.copySign(v, d);
  }
}
