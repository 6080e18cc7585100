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
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Prints ratios and single-thread speeds (GB of raw bytes per CPU second of the calling thread) of the float codec against zstd-3 on the same bytes, measured in one run:
 * synthetic normal(0, 0.02) weights always, and the real bge-small fp32 weights (plus their BF16 and F16 casts) when
 * the model's jar is in the local Maven repository. Asserts only that every chunk round-trips.
 */
// A measurement, not a check: it runs only with -Dferry.bench=true.
@EnabledIfSystemProperty(named = "ferry.bench", matches = "true")
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
    List<byte[]> tensors = FloatData.bgeF32();
    if (tensors == null) {
      lines.add("(real weights skipped: " + FloatData.BGE_JAR + " is not in the local Maven repository)");
    } else {
      for (String dtype : new String[] {"F32", "BF16", "F16"}) {
        List<byte[]> cast = new ArrayList<>();
        for (byte[] t : tensors) {
          cast.add(dtype.equals("F32") ? t : FloatData.cast(FloatData.floats(t), dtype));
        }
        lines.add(measure("bge-small 16 MiB slices", dtype, slices(FloatData.concat(cast))));
        lines.add(measure("bge-small tensor chunks", dtype, tensorChunks(cast)));
      }
    }
    System.out.println(String.join("\n", lines));
  }

  /** The data cut into CHUNK-sized pieces, ignoring tensor boundaries. */
  private static List<byte[]> slices(byte[] data) {
    List<byte[]> out = new ArrayList<>();
    for (int at = 0; at < data.length; at += CHUNK) {
      out.add(java.util.Arrays.copyOfRange(data, at, Math.min(data.length, at + CHUNK)));
    }
    return out;
  }

  /**
   * Chunks as the planner makes them: one tensor per chunk (split at CHUNK), tensors under 1 MiB packed together up
   * to 1 MiB.
   */
  private static List<byte[]> tensorChunks(List<byte[]> tensors) {
    List<byte[]> out = new ArrayList<>();
    List<byte[]> small = new ArrayList<>();
    int smallBytes = 0;
    for (byte[] t : tensors) {
      if (t.length >= 1 << 20) {
        out.addAll(slices(t));
        continue;
      }
      if (smallBytes + t.length > 1 << 20) {
        out.add(FloatData.concat(small));
        small.clear();
        smallBytes = 0;
      }
      small.add(t);
      smallBytes += t.length;
    }
    if (!small.isEmpty()) {
      out.add(FloatData.concat(small));
    }
    return out;
  }

  private static String measure(String name, String dtype, byte[] data) throws IOException {
    return measure(name, dtype, slices(data));
  }

  private static String measure(String name, String dtype, List<byte[]> parts) throws IOException {
    FloatCodec fc = new FloatCodec();
    ZstdCodec zc = new ZstdCodec(3);
    ChunkHint hint = new ChunkHint(dtype);
    List<ByteBuffer> chunks = new ArrayList<>();
    long total = 0;
    for (byte[] p : parts) {
      chunks.add(ByteBuffer.allocateDirect(p.length).put(p).flip());
      total += p.length;
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
        // an encode's result lives until the thread's next encode (Codec contract): keep a copy
        fEnc.add(ByteBuffer.allocate(e.remaining()).put(e.duplicate()).flip());
        fSize[0] += e.remaining();
      }
    });
    double zEncT = best(() -> {
      zEnc.clear();
      zSize[0] = 0;
      for (ByteBuffer c : chunks) {
        ByteBuffer e = zc.encode(c, hint);
        // an encode's result lives until the thread's next encode (Codec contract): keep a copy
        zEnc.add(ByteBuffer.allocateDirect(e.remaining()).put(e.duplicate()).flip());
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
    double gb = total / 1e9;
    return String.format("%-26s %6s %7.1f | %7.3f %8.2f %8.2f | %7.3f %8.2f %8.2f | %s", name, dtype,
        total / 1048576.0, (double) zSize[0] / total, gb / zEncT, gb / zDecT,
        (double) fSize[0] / total, gb / fEncT, gb / fDecT, planes(fEnc, dtype));
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
