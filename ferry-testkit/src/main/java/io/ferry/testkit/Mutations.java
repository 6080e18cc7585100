package io.ferry.testkit;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Malformed variants of a valid file, for tests that feed readers what an attacker or a broken writer would: flipped
 * bits, bytes and integers set to their limits (0, -1, the largest and smallest of their width, the file's size and
 * its neighbours), truncations, and bytes inserted, deleted or repeated. Positions fall mostly within the file's
 * first {@code hot} bytes (its header, where a defect changes what a reader believes), the rest anywhere.
 * Deterministic for a seed, so a failure names the seed and the mutation that reproduce it.
 */
public final class Mutations {
  /** The seed of every fuzz test: {@code -Dferry.fuzz.seed} runs another campaign, and a failure names the seed. */
  public static final long SEED = Long.getLong("ferry.fuzz.seed", 20261205L);

  /** One malformed variant: its bytes and what was done to the valid file. */
  public record Mutant(byte[] bytes, String what) {}

  /** Reads one variant as the code under test reads a file. */
  @FunctionalInterface
  public interface Reader {
    void read(byte[] bytes) throws java.io.IOException;
  }

  /**
   * What {@link #feed} found: how many variants were refused with an error naming the file, and the failures (at most
   * five): a refusal that does not name it, a {@link RuntimeException} or an {@link Error}, each with the mutation.
   */
  public record Outcome(int refused, java.util.List<String> failures) {}

  /**
   * Feeds {@code rounds} variants to {@code reader}: reading one or refusing it with an {@link java.io.IOException}
   * whose message contains {@code name} is right; anything else is a failure. Stops after five failures.
   */
  public Outcome feed(int rounds, String name, Reader reader) {
    java.util.List<String> failures = new java.util.ArrayList<>();
    int refused = 0;
    for (int i = 0; i < rounds && failures.size() < 5; i++) {
      Mutant m = next();
      try {
        reader.read(m.bytes());
      } catch (java.io.IOException e) {
        refused++;
        if (e.getMessage() == null || !e.getMessage().contains(name)) {
          failures.add("round " + i + ": " + m.what() + " -> " + e);
        }
      } catch (RuntimeException | Error e) {
        java.io.StringWriter trace = new java.io.StringWriter();
        e.printStackTrace(new java.io.PrintWriter(trace));
        failures.add("round " + i + ": " + m.what() + " -> "
            + String.join("\n", trace.toString().lines().limit(10).toList()));
      }
    }
    return new Outcome(refused, failures);
  }

  private final byte[] valid;
  private final int hot;
  private final SplittableRandom random;

  /**
   * @param valid the valid file
   * @param hot how many leading bytes most mutations aim at (clamped to the file's size)
   * @param seed the random seed
   */
  public Mutations(byte[] valid, int hot, long seed) {
    this.valid = valid.clone();
    this.hot = Math.max(1, Math.min(hot, valid.length));
    this.random = new SplittableRandom(seed);
  }

  /** The next malformed variant (possibly, rarely, identical to the valid file). */
  public Mutant next() {
    byte[] b = valid.clone();
    int kind = random.nextInt(10);
    switch (kind) {
      case 0: {
        int flips = 1 + random.nextInt(4);
        StringBuilder what = new StringBuilder("flipped bits");
        for (int i = 0; i < flips; i++) {
          int at = position(b.length);
          int bit = random.nextInt(8);
          b[at] ^= (byte) (1 << bit);
          what.append(' ').append(at).append('.').append(bit);
        }
        return new Mutant(b, what.toString());
      }
      case 1: {
        int at = position(b.length);
        byte v = (byte) new int[] {0x00, 0xFF, 0x7F, 0x80, 0x01, '"', '{', '}', '\\', ','}[random.nextInt(10)];
        b[at] = v;
        return new Mutant(b, "byte " + at + " set to 0x" + Integer.toHexString(v & 0xFF));
      }
      case 2:
      case 3: {
        int width = random.nextBoolean() ? 4 : 8;
        if (b.length < width) {
          return truncated(b);
        }
        int at = Math.min(position(b.length), b.length - width);
        if (random.nextBoolean()) {
          at -= at % width;
        }
        long v = limit(width, b.length);
        ByteBuffer w = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        if (width == 4) {
          w.putInt(at, (int) v);
        } else {
          w.putLong(at, v);
        }
        return new Mutant(b, width * 8 + "-bit integer at " + at + " set to " + v);
      }
      case 4:
        return truncated(b);
      case 5: {
        int n = 1 + random.nextInt(64);
        byte[] out = Arrays.copyOf(b, b.length + n);
        for (int i = b.length; i < out.length; i++) {
          out[i] = (byte) random.nextInt(256);
        }
        return new Mutant(out, n + " bytes appended");
      }
      case 6: {
        int at = position(b.length + 1);
        int n = 1 + random.nextInt(16);
        byte[] out = new byte[b.length + n];
        System.arraycopy(b, 0, out, 0, at);
        for (int i = 0; i < n; i++) {
          out[at + i] = (byte) random.nextInt(256);
        }
        System.arraycopy(b, at, out, at + n, b.length - at);
        return new Mutant(out, n + " bytes inserted at " + at);
      }
      case 7: {
        if (b.length < 2) {
          return truncated(b);
        }
        int at = position(b.length - 1);
        int n = 1 + random.nextInt(Math.min(16, b.length - at - 1) + 1);
        n = Math.min(n, b.length - at);
        byte[] out = new byte[b.length - n];
        System.arraycopy(b, 0, out, 0, at);
        System.arraycopy(b, at + n, out, at, b.length - at - n);
        return new Mutant(out, n + " bytes deleted at " + at);
      }
      case 8: {
        int from = position(b.length);
        int n = 1 + random.nextInt(Math.min(64, b.length - from));
        int at = position(b.length + 1);
        byte[] out = new byte[b.length + n];
        System.arraycopy(b, 0, out, 0, at);
        System.arraycopy(b, from, out, at, n);
        System.arraycopy(b, at, out, at + n, b.length - at);
        return new Mutant(out, n + " bytes from " + from + " repeated at " + at);
      }
      default: {
        int at = position(b.length);
        int n = Math.min(b.length - at, 1 + random.nextInt(8));
        for (int i = 0; i < n; i++) {
          b[at + i] = (byte) random.nextInt(256);
        }
        return new Mutant(b, n + " random bytes at " + at);
      }
    }
  }

  private Mutant truncated(byte[] b) {
    int at = random.nextInt(4) == 0 ? random.nextInt(b.length + 1) : position(b.length + 1);
    return new Mutant(Arrays.copyOf(b, Math.min(at, b.length)), "truncated to " + Math.min(at, b.length)
        + " bytes");
  }

  /** A position below {@code bound}: within the hot bytes four times in five. */
  private int position(int bound) {
    if (bound <= 1) {
      return 0;
    }
    return random.nextInt(5) != 0 ? random.nextInt(Math.min(hot, bound)) : random.nextInt(bound);
  }

  private long limit(int width, int size) {
    long[] values = width == 4
        ? new long[] {0, 1, -1, Integer.MAX_VALUE, Integer.MIN_VALUE, size, size - 1, size + 1, 0xFFFF, 1 << 20}
        : new long[] {0, 1, -1, Long.MAX_VALUE, Long.MIN_VALUE, size, size - 1, size + 1, 1L << 32,
            Integer.MAX_VALUE, (long) Integer.MAX_VALUE + 1};
    return values[random.nextInt(values.length)];
  }
}
