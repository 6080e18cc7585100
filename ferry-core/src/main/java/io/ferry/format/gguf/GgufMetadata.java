package io.ferry.format.gguf;

import io.ferry.format.FormatMetadata;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * What a GGUF file says besides its tensors: its version, the alignment of its data, and its key-value pairs in file
 * order. Immutable.
 *
 * <p>The snapshot records {@link #asStrings()}: each key with its value as text, sorted by key. Scalars are written in
 * full (integers in decimal, unsigned ones unsigned; floats as the shortest decimal that reads back as the same
 * float; booleans {@code true}/{@code false}); a string of at most {@value #MAX_TEXT_BYTES} bytes of UTF-8 as it is;
 * an array of at most {@value #MAX_LISTED} elements whose text fits in {@value #MAX_TEXT_BYTES} bytes as
 * {@code [a, b, c]} (strings quoted, {@code "} and {@code \} escaped). Anything longer (a tokenizer's vocabulary, its
 * merges, a chat template of more than 4 KiB), a nested array, or a string that is not UTF-8, is summarised as
 * {@code <TYPE, N elements|bytes, sha256 HEX>} where HEX is the SHA-256 of the value's bytes in the file, so that a
 * snapshot stays small and a diff still shows which value changed.
 *
 * @param version the GGUF version (2 or 3)
 * @param alignment the alignment of the tensor data, from {@code general.alignment} or 32
 * @param entries the key-value pairs in file order
 */
public record GgufMetadata(int version, long alignment, List<GgufEntry> entries) implements FormatMetadata {
  /** Strings and listed arrays longer than this (bytes of text) are summarised. */
  public static final int MAX_TEXT_BYTES = 4096;
  /** Arrays with more elements than this are summarised. */
  public static final int MAX_LISTED = 16;

  /**
   * Copies the entries.
   *
   * @throws NullPointerException if entries or one of them is null
   * @throws IllegalArgumentException if the version is not 2 or 3 or the alignment not a positive power of two
   */
  public GgufMetadata {
    entries = List.copyOf(Objects.requireNonNull(entries, "entries"));
    if (version < 2 || version > 3) {
      throw new IllegalArgumentException("GGUF version " + version + " is not 2 or 3");
    }
    if (alignment <= 0 || (alignment & (alignment - 1)) != 0) {
      throw new IllegalArgumentException("GGUF alignment " + alignment + " is not a positive power of two");
    }
  }

  /**
   * The entry ggml finds for a key ({@code gguf_find_key}): the first whose key, read as a C string (up to its first
   * NUL byte), is {@code key}; so {@code general.alignment\0x} is found for {@code general.alignment}. Null if none.
   */
  public GgufEntry find(String key) {
    for (GgufEntry e : entries) {
      if (cString(e.key()).equals(key)) {
        return e;
      }
    }
    return null;
  }

  /** The value text of the entry {@link #find} finds, or null if none. */
  public String get(String key) {
    GgufEntry e = find(key);
    return e == null ? null : e.value();
  }

  /** A key or tensor name as ggml compares it: a C string, which ends at its first NUL byte. */
  static String cString(String s) {
    int nul = s.indexOf('\0');
    return nul < 0 ? s : s.substring(0, nul);
  }

  /** Each key with its value text, sorted by key. */
  @Override
  public Map<String, String> asStrings() {
    Map<String, String> m = new TreeMap<>();
    for (GgufEntry e : entries) {
      m.put(e.key(), e.value());
    }
    return Collections.unmodifiableMap(m);
  }
}
