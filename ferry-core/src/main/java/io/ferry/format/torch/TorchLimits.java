package io.ferry.format.torch;

/**
 * The bounds a PyTorch checkpoint is read within, so that no input can make the reader use unbounded memory or time.
 * A checkpoint over one of them is refused with a message naming the limit. Constants only.
 */
public final class TorchLimits {
  /** Largest {@code data.pkl}, in bytes (a 100,000-tensor state dict pickles to about 15 MiB). */
  public static final int MAX_PICKLE_BYTES = 64 << 20;
  /** Longest string or bytes value in a pickle, in bytes. */
  public static final int MAX_STRING_BYTES = 1 << 20;
  /** Longest integer ({@code LONG1}/{@code LONG4}), in bytes. */
  public static final int MAX_LONG_BYTES = 64;
  /** Most values on the pickle stack at once, marks included. */
  public static final int MAX_STACK = 1 << 20;
  /** Most open marks at once (one per container being built). */
  public static final int MAX_MARKS = 1000;
  /** Most memo entries numbered 0, 1, 2… (Python's pickler numbers them so): a list of references. */
  public static final int MAX_MEMO = 4 << 20;
  /** Most memo entries numbered out of sequence (a hash map, dearer per entry). */
  public static final int MAX_SPARSE_MEMO = 1 << 16;
  /**
   * Most values a pickle may create, and most nodes the reader visits when it walks them: torch.save's state dict
   * makes 20 per tensor, so room for {@link #MAX_TENSORS} tensors and a quarter more, and at most some 240 MiB of heap
   * for the values of a hostile pickle.
   */
  public static final int MAX_VALUES = 12 << 20;
  /** Deepest nesting of containers (dicts, lists, tuples) under the root. */
  public static final int MAX_DEPTH = 100;
  /** Most dimensions of a tensor. */
  public static final int MAX_DIMS = 64;
  /** Most tensors in one checkpoint. */
  public static final int MAX_TENSORS = 500_000;
  /** Most entries in the archive. */
  public static final int MAX_ENTRIES = 1_000_000;
  /** Largest central directory, in bytes. */
  public static final int MAX_CENTRAL_DIRECTORY_BYTES = 256 << 20;
  /** Longest entry name, in bytes. */
  public static final int MAX_ENTRY_NAME_BYTES = 4096;
  /** Longest non-tensor value as JSON, in characters (a snapshot metadata value holds up to 16 MiB). */
  public static final int MAX_VALUE_JSON_CHARS = 8 << 20;
  /** Largest small entry read whole besides {@code data.pkl} ({@code byteorder}, {@code version}), in bytes. */
  public static final int MAX_SMALL_ENTRY_BYTES = 4096;

  /**
   * Most entries of a file's metadata map: the limit a push checks every file's metadata against ({@code Limits}, of
   * the package of limits, which formats do not depend on; a test keeps the two equal).
   */
  public static final int METADATA_ENTRIES = 10_000;
  /** Longest key of a file's metadata map, in characters, as a push checks it. */
  public static final int METADATA_KEY_CHARS = 1024;
  /** Most characters of a file's metadata map, keys and values together, as a push checks it. */
  public static final int METADATA_CHARS = 16 << 20;

  private TorchLimits() {}
}
