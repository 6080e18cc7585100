package io.ferry.chunk;

/**
 * Size parameters of content-defined chunking ({@link CdcChunker}): every chunk but the last of a file is at least
 * {@code min} and at most {@code max} bytes; on random data chunks average a little above {@code avg}.
 *
 * <p>Chunk boundaries are part of the storage format (they decide which chunk ids a file is made of, and so what
 * deduplicates), so a store must keep using the parameters it started with; {@link #DEFAULT} never changes.
 *
 * @param min minimum chunk size in bytes, at least {@value #MIN_MIN}
 * @param avg target (normal) chunk size in bytes, a power of two in [{@value #MIN_AVG}, 2^30], {@code min <= avg}
 * @param max maximum chunk size in bytes, {@code avg <= max}
 */
public record CdcParams(int min, int avg, int max) {
  /** The smallest allowed {@code min}: the width of the gear hash window. */
  public static final int MIN_MIN = 64;

  /** The smallest allowed {@code avg}. */
  public static final int MIN_AVG = 256;

  /** Ferry's parameters for opaque files: min 256 KiB, average 1 MiB, max 4 MiB. */
  public static final CdcParams DEFAULT = new CdcParams(256 << 10, 1 << 20, 4 << 20);

  /**
   * Validates the sizes.
   *
   * @throws IllegalArgumentException naming the offending value when a constraint above does not hold
   */
  public CdcParams {
    if (min < MIN_MIN) {
      throw new IllegalArgumentException("cdc min must be at least " + MIN_MIN + " bytes, got " + min);
    }
    if (avg < MIN_AVG || avg > (1 << 30) || Integer.bitCount(avg) != 1) {
      throw new IllegalArgumentException(
          "cdc avg must be a power of two in [" + MIN_AVG + ", 2^30], got " + avg);
    }
    if (min > avg) {
      throw new IllegalArgumentException("cdc min (" + min + ") must not exceed avg (" + avg + ")");
    }
    if (avg > max) {
      throw new IllegalArgumentException("cdc avg (" + avg + ") must not exceed max (" + max + ")");
    }
  }

  /** log2 of {@link #avg()}. */
  int avgBits() {
    return Integer.numberOfTrailingZeros(avg);
  }
}
