package io.ferry.codec;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Prints ratios and single-thread speeds (GB of raw bytes per CPU second of the calling thread) of the float codec against zstd-3 on the same bytes, measured in one run:
 * synthetic normal(0, 0.02) weights always, and the real bge-small fp32 weights (plus their BF16 and F16 casts) when
 * the model's jar is in the local Maven repository. Asserts only that every chunk round-trips.
 */
class FloatCodecThroughputTest {
  private static final int CHUNK = 16 << 20;
  private static final int REPS = 5;

  @Test
  void ratiosAndSpeedsAgainstZstd3() throws IOException {
    long seed = Long.getLong("ferry.seed", 42L);
    System.out.println("FloatCodecThroughputTest seed " + seed);
    Random r = new Random(seed);
    float[] synthetic = FloatData.normal(r, 16 << 20, 0.02);
    List<String> lines = new ArrayList<>();
    lines.add(String.format("%-26s %6s %7s | %7s %8s %8s | %7s %8s %8s | %s", "data", "dtype", "MiB", "zstd-3",
        "enc GB/s", "dec GB/s", "float", "enc GB/s", "dec GB/s", "float planes (method:stored/raw)"));
    for (String dtype : new String[] {"BF16", "F16", "F32", "F8_E4M3"}) {
      lines.add(measure("synthetic normal(0,0.02)", dtype, FloatData.cast(synthetic, dtype)));
    }
    byte[] bge = FloatData.bgeF32();
    if (bge == null) {
      lines.add("(real weights skipped: " + FloatData.BGE_JAR + " is not in the local Maven repository)");
    } else {
      float[] f = FloatData.floats(bge);
      lines.add(measure("bge-small-en-v1.5 (real)", "F32", bge));
      lines.add(measure("bge-small-en-v1.5 (real)", "BF16", FloatData.cast(f, "BF16")));
      lines.add(measure("bge-small-en-v1.5 (real)", "F16", FloatData.cast(f, "F16")));
    }
    System.out.println(String.join("\n", lines));
  }

  private static String measure(String name, String dtype, byte[] data) throws IOException {
    FloatCodec fc = new FloatCodec();
    ZstdCodec zc = new ZstdCodec(3);
    ChunkHint hint = new ChunkHint(dtype);
    List<ByteBuffer> chunks = new ArrayList<>();
    for (int at = 0; at < data.length; at += CHUNK) {
      int len = Math.min(CHUNK, data.length - at);
      chunks.add(ByteBuffer.allocateDirect(len).put(data, at, len).flip());
    }
    long[] fSize = new long[1];
    long[] zSize = new long[1];
    List<ByteBuffer> fEnc = new ArrayList<>();
    List<ByteBuffer> zEnc = new ArrayList<>();
    double fEncT = best(() -> {
      fEnc.clear();
      fSize[0] = 0;
      for (ByteBuffer c : chunks) {
        ByteBuffer e = fc.encode(c, hint);
        fEnc.add(e);
        fSize[0] += e.remaining();
      }
    });
    double zEncT = best(() -> {
      zEnc.clear();
      zSize[0] = 0;
      for (ByteBuffer c : chunks) {
        ByteBuffer e = zc.encode(c, hint);
        zEnc.add(e);
        zSize[0] += e.remaining();
      }
    });
    List<ByteBuffer> fDirect = new ArrayList<>();
    for (ByteBuffer e : fEnc) {
      fDirect.add(ByteBuffer.allocateDirect(e.remaining()).put(e.duplicate()).flip());
    }
    ByteBuffer out = ByteBuffer.allocateDirect(CHUNK);
    double fDecT = best(() -> {
      for (int i = 0; i < chunks.size(); i++) {
        out.clear().limit(chunks.get(i).remaining());
        fc.decode(fDirect.get(i).duplicate(), out);
      }
    });
    for (int i = 0; i < chunks.size(); i++) {
      out.clear().limit(chunks.get(i).remaining());
      fc.decode(fDirect.get(i).duplicate(), out);
      assertThat(out.flip()).as("%s %s chunk %d round trip", name, dtype, i).isEqualTo(chunks.get(i));
    }
    double zDecT = best(() -> {
      for (int i = 0; i < chunks.size(); i++) {
        out.clear().limit(chunks.get(i).remaining());
        zc.decode(zEnc.get(i).duplicate(), out);
      }
    });
    double gb = data.length / 1e9;
    return String.format("%-26s %6s %7.1f | %7.3f %8.2f %8.2f | %7.3f %8.2f %8.2f | %s", name, dtype,
        data.length / 1048576.0, (double) zSize[0] / data.length, gb / zEncT, gb / zDecT,
        (double) fSize[0] / data.length, gb / fEncT, gb / fDecT, planes(fEnc, dtype));
  }

  /** Per plane over all chunks: the methods used and stored/raw, read from the documented payload header. */
  private static String planes(List<ByteBuffer> enc, String dtype) {
    int w = FloatCodec.elementWidth(dtype);
    long[] stored = new long[w];
    long[] raw = new long[w];
    String[] methods = new String[w];
    String names = "RCHZ";
    for (ByteBuffer e : enc) {
      ByteBuffer h = e.duplicate().order(ByteOrder.LITTLE_ENDIAN);
      int n = h.getInt(2) / w;
      for (int k = 0; k < w; k++) {
        char m = names.charAt(h.get(6 + 5 * k));
        methods[k] = methods[k] == null ? String.valueOf(m)
            : methods[k].indexOf(m) < 0 ? methods[k] + m : methods[k];
        stored[k] += h.getInt(7 + 5 * k);
        raw[k] += n;
      }
    }
    StringBuilder s = new StringBuilder();
    for (int k = 0; k < w; k++) {
      s.append(String.format("%s%d %s:%.3f", k == 0 ? "" : ", ", k, methods[k], (double) stored[k] / raw[k]));
    }
    return s.toString();
  }

  interface Body {
    void run() throws IOException;
  }

  /**
   * Best CPU time of this thread in seconds over REPS runs after one warm-up run. CPU time, not wall time, because
   * other builds share this machine's two cores; it is what one thread per chunk achieves when it has a core.
   */
  private static double best(Body b) throws IOException {
    ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    b.run();
    double best = Double.MAX_VALUE;
    for (int i = 0; i < REPS; i++) {
      long t0 = mx.getCurrentThreadCpuTime();
      b.run();
      best = Math.min(best, (mx.getCurrentThreadCpuTime() - t0) / 1e9);
    }
    return best;
  }
}
