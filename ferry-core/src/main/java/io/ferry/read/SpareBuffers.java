package io.ferry.read;

/**
 * The decode buffers that {@link ModelReader} copies and streams share in this JVM ({@code SharedBuffers}), seen from
 * outside the package: those given back are kept for the next copy of any reader, as a loader, a server or a
 * benchmark that opens a reader per model, file, request or task would otherwise make new ones each time, and a new
 * direct buffer costs its whole size in zeroing and page faults before its first byte is read (on a 2-core VM an
 * uncompressed stream of every tensor took 1.3 s with new buffers, 0.25 s with kept ones), while the dropped ones
 * hold their memory until a garbage collection.
 *
 * <p>What is kept is bounded: at most what one copy may hold, a third of the maximum heap of direct memory (or two of
 * the biggest chunk when two fit in 40% of it), as much of heap frames held softly (the collector takes them back
 * before the heap runs out), and one whole-tensor buffer no bigger than that. It never makes memory run out: a direct
 * allocation anywhere in Ferry's read path that finds the JVM's direct memory used up drops the kept buffers and tries
 * once more, and {@link #release} drops them on request. Thread-safe.
 */
public final class SpareBuffers {
  private SpareBuffers() {}

  /**
   * Drops the kept buffers: their memory goes back with the next garbage collection. Buffers lent to copies running
   * now are kept when given back.
   */
  public static void release() {
    SharedBuffers.release();
  }
}
