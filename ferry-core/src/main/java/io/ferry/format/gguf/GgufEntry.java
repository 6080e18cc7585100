package io.ferry.format.gguf;

import java.util.Objects;

/**
 * One key-value pair of a GGUF file's metadata, as Ferry records it. Immutable.
 *
 * @param key the key, exactly as in the file; a key that is not UTF-8 as its text with U+FFFD for each malformed
 *     sequence, then {@code <not UTF-8: HEX>} with its bytes in hex
 * @param type the value type as GGUF names it ({@code u8 i8 u16 i16 u32 i32 f32 bool str u64 i64 f64}), arrays as
 *     {@code arr[TYPE]} (nested: {@code arr[arr[u32]]})
 * @param count the number of elements of an array value, 1 for a scalar
 * @param value the value as text (see {@link GgufMetadata}): a scalar or a short array in full, a long string or
 *     array summarised with its size and the SHA-256 of its bytes
 */
public record GgufEntry(String key, String type, long count, String value) {
  /**
   * @throws NullPointerException if a string is null
   * @throws IllegalArgumentException if the key is empty or the count negative
   */
  public GgufEntry {
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(value, "value");
    if (key.isEmpty() || count < 0) {
      throw new IllegalArgumentException("GGUF entry '" + key + "' of " + count + " elements: expected a key and a "
          + "count >= 0");
    }
  }
}
