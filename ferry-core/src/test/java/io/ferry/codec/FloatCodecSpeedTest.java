package io.ferry.codec;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Speed of the float codec on 64 MiB BF16 chunks, in GB of raw bytes per CPU second of the measuring thread, for two
 * distributions: normal(0, 1) and weight-like normal(0, 0.02). Two measurements:
 *
 * <ul>
 *   <li>{@code fresh}: in a JVM that has run no codec code, the first chunk alone and everything done in the first
 *       CPU second (the path of a fresh {@code ferry} process). Run it once per JVM: {@code main} with arguments
 *       {@code fresh encode|decode old|new normal|weights}.
 *   <li>{@code warm}: after 20 iterations, best of 5, the current codec and the frozen pre-speed-work copy
 *       ({@link LegacyFloatCodec}) interleaved in one JVM so machine load hits both alike.
 * </ul>
 *
 * A measurement, not a check: it runs only with {@code -Dferry.bench.codec=true}.
 */
@EnabledIfSystemProperty(named = "ferry.bench.codec", matches = "true")
class FloatCodecSpeedTest {
  static final int CHUNK = 64 << 20;
  private static final ChunkHint BF16 = new ChunkHint("BF16");

  @Test
  void warm() throws IOException {
    System.out.println(String.join("\n", warmReport(Integer.getInteger("ferry.bench.codec.iterations", 20))));
  }

  static List<String> warmReport(int iterations) throws IOException {
    List<String> lines = new ArrayList<>();
    for (String dist : new String[] {"normal", "weights"}) {
      byte[] raw = data(dist);
      Codec[] codecs = {new LegacyFloatCodec(), new FloatCodec()};
      ByteBuffer in = ByteBuffer.wrap(raw);
      ByteBuffer payload = copy(codecs[0].encode(in, BF16));
      ByteBuffer out = ByteBuffer.allocateDirect(CHUNK);
      double[][] best = new double[2][2];
      for (double[] b : best) {
        java.util.Arrays.fill(b, Double.MAX_VALUE);
      }
      for (int it = 0; it < iterations + 5; it++) {
        for (int c = 0; c < 2; c++) {
          Codec codec = codecs[c];
          double e = cpu(() -> codec.encode(in, BF16));
          double d = cpu(() -> codec.decode(payload.duplicate(), out.clear()));
          if (it >= iterations) {
            best[c][0] = Math.min(best[c][0], e);
            best[c][1] = Math.min(best[c][1], d);
          }
        }
      }
      out.flip();
      assertThat(out).isEqualTo(ByteBuffer.wrap(raw));
      double gb = CHUNK / 1e9;
      lines.add(String.format("warm %-7s ratio %.4f | old enc %.2f dec %.2f GB/s | new enc %.2f dec %.2f GB/s"
              + " | new/old enc %.2fx dec %.2fx", dist, (double) payload.remaining() / CHUNK, gb / best[0][0],
          gb / best[0][1], gb / best[1][0], gb / best[1][1], best[0][0] / best[1][0], best[0][1] / best[1][1]));
    }
    return lines;
  }

  /** Arguments: fresh encode|decode old|new normal|weights. Prints one line. */
  public static void main(String[] args) throws IOException {
    if (args[0].equals("warm")) {
      System.out.println(String.join("\n", warmReport(args.length > 1 ? Integer.parseInt(args[1]) : 20)));
      return;
    }
    boolean encode = args[1].equals("encode");
    boolean old = args[2].equals("old");
    byte[] raw = data(args[3]);
    Codec codec = old ? new LegacyFloatCodec() : new FloatCodec();
    ByteBuffer in = ByteBuffer.wrap(raw);
    // The payload for a decode comes from the other implementation (both write the same bytes), so that the
    // measured one has run nothing before.
    ByteBuffer payload = encode ? null : copy((old ? new FloatCodec() : new LegacyFloatCodec()).encode(in, BF16));
    ByteBuffer out = ByteBuffer.allocateDirect(CHUNK);
    ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    long t0 = mx.getCurrentThreadCpuTime();
    long w0 = System.nanoTime();
    double first = 0;
    int chunks = 0;
    long t;
    do {
      if (encode) {
        codec.encode(in, BF16);
      } else {
        codec.decode(payload.duplicate(), out.clear());
      }
      t = mx.getCurrentThreadCpuTime() - t0;
      if (chunks++ == 0) {
        first = t / 1e9;
      }
    } while (t < 1_000_000_000L);
    double gb = CHUNK / 1e9;
    System.out.printf("fresh %s %s %-7s first chunk %.3f s cpu = %.2f GB/s | first %.2f cpu s: %d chunks = %.2f GB/s"
            + " (wall %.2f s)%n", args[1], args[2], args[3], first, gb / first, t / 1e9, chunks, chunks * gb / (t / 1e9),
        (System.nanoTime() - w0) / 1e9);
  }

  static byte[] data(String dist) {
    double sigma = dist.equals("normal") ? 1.0 : 0.02;
    return FloatData.cast(FloatData.normal(new Random(1), CHUNK / 2, sigma), "BF16");
  }

  /** A heap copy, as a payload arrives from a store (the local store reads into heap buffers). */
  private static ByteBuffer copy(ByteBuffer b) {
    return ByteBuffer.allocate(b.remaining()).put(b.duplicate()).flip();
  }

  interface Body {
    void run() throws IOException;
  }

  private static double cpu(Body b) throws IOException {
    ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    long t0 = mx.getCurrentThreadCpuTime();
    b.run();
    return (mx.getCurrentThreadCpuTime() - t0) / 1e9;
  }
}
