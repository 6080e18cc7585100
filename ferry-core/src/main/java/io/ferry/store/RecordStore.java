package io.ferry.store;

import java.io.Closeable;
import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * Backend SPI: small named records (at most {@link #MAX_RECORD_BYTES} bytes each) that core builds its mutable state
 * on: the numbered ref logs of stores without a native ref store, and the leases that protect running pushes from gc
 * ({@code io.ferry.repo.lease}). A backend supplies the primitives (create-if-absent, read, replace, list, delete);
 * core owns every protocol built from them.
 *
 * <p>Keys are {@code /}-separated segments of {@code [A-Za-z0-9._-]}, none empty, none {@code .} or {@code ..},
 * at most {@link #MAX_KEY_LENGTH} characters in all, and the first segment is none of {@link #RESERVED}, the names a
 * store keeps its own files under ({@link #checkKey}). Core keeps each protocol under its own first
 * segment ({@code refs/}, {@code leases/}), so protocols never see each other's records, and never makes one key a
 * leading run of whole segments of another ({@code a} and {@code a/b}), so that file-system backends can map segments
 * to directories.
 *
 * <p>Contract, checked by {@code RecordStoreContract} in ferry-testkit for every backend:
 *
 * <ul>
 *   <li>{@link #create} is atomic and linearizable: of concurrent creates of one key (threads or processes), exactly
 *       one returns {@code true}; a reader sees no record or the whole record, never a prefix.
 *   <li>{@link #replace} is atomic (no torn content) with last-writer-wins; it is for hints and lease renewals, never
 *       for state that needs a compare-and-swap.
 *   <li>Once a method returns, its effect is durable and visible to every later call, from any process
 *       (read-after-write and list-after-write).
 *   <li>All methods are safe to call from many threads at once; a missing record is {@code Optional.empty()} or
 *       {@code false}, never an exception; only system faults throw.
 * </ul>
 */
public interface RecordStore extends Closeable {
  /** The largest record a backend must accept. */
  int MAX_RECORD_BYTES = 1 << 20;
  /**
   * The longest key a backend must accept: what leaves room for a store's own prefix within S3's 1,024 bytes, and
   * more than the longest ref-log key (about 420 characters).
   */
  int MAX_KEY_LENGTH = 512;
  /** The longest segment of a key: the longest file name that local file systems and HDFS accept. */
  int MAX_SEGMENT_LENGTH = 255;
  /**
   * First segments no key may have: where stores keep objects, temporary files and their marker, which backends that
   * map keys into the store's own directory or prefix (HDFS, S3) must never mix with records.
   */
  java.util.Set<String> RESERVED = java.util.Set.of("objects", "tmp", "ferry-store.json");

  /** Where this store is, for error messages: its URI. */
  String describe();

  /**
   * Creates the record if no record has this key.
   *
   * <p>Where the transport resends a request whose answer was lost (S3 behind the SDK's retries), the resent create
   * of a record the first attempt made returns {@code false}. A caller that must tell "I created it" from "someone
   * else did" puts something unique in the content and reads the record back, as the numbered ref log does.
   *
   * @return true if this call created it, false if a record with the key existed (nothing is written then)
   * @throws IllegalArgumentException if the key breaks the key rules or the content is over the size limit
   */
  boolean create(String key, byte[] content) throws IOException;

  /**
   * {@link #create} for a key that only the caller names (a random or process-unique id is in it): true if this call
   * created the record or the record holds exactly {@code content} already, which is what a resent create of the
   * caller's own record finds after the first answer was lost (above); false if a record with other content exists.
   */
  default boolean createOwn(String key, byte[] content) throws IOException {
    if (create(key, content)) {
      return true;
    }
    return read(key).map(now -> java.util.Arrays.equals(now, content)).orElse(false);
  }

  /** Creates or replaces the record, atomically (readers see the old or the new content, whole). */
  void replace(String key, byte[] content) throws IOException;

  /** The record's content, or empty if there is no record with this key. */
  Optional<byte[]> read(String key) throws IOException;

  /** Keys of the existing records that start with {@code prefix} (a string prefix, not only whole segments), sorted. */
  List<String> list(String prefix) throws IOException;

  /** Removes the record; a no-op if it is absent. */
  void delete(String key) throws IOException;

  /**
   * Reads several records, for protocols that probe many keys at once (finding the heads of many refs, reading a
   * whole log). Stores with a pool of requests should override this and read in parallel; the default reads one by
   * one.
   *
   * @return one element per key, in the order given: the content, or empty if there is no record with the key
   */
  default List<Optional<byte[]>> readAll(List<String> keys) throws IOException {
    List<Optional<byte[]>> out = new java.util.ArrayList<>(keys.size());
    for (String k : keys) {
      out.add(read(k));
    }
    return out;
  }

  /**
   * Checks a key against the rules above.
   *
   * @return the key
   * @throws IllegalArgumentException naming the key and the rule it breaks
   */
  static String checkKey(String key) {
    if (key == null || key.isEmpty()) {
      throw new IllegalArgumentException("record key is empty");
    }
    if (key.length() > MAX_KEY_LENGTH) {
      throw new IllegalArgumentException("record key is " + key.length() + " characters, more than " + MAX_KEY_LENGTH);
    }
    String first = key.indexOf('/') < 0 ? key : key.substring(0, key.indexOf('/'));
    if (RESERVED.contains(first)) {
      throw new IllegalArgumentException("record key '" + key + "' starts with '" + first
          + "', which stores keep for their own files");
    }
    for (String seg : key.split("/", -1)) {
      if (seg.isEmpty() || seg.equals(".") || seg.equals("..")) {
        throw new IllegalArgumentException("record key '" + key + "' has an empty, '.' or '..' segment");
      }
      if (seg.length() > MAX_SEGMENT_LENGTH) {
        throw new IllegalArgumentException("record key '" + key + "' has a segment of " + seg.length()
            + " characters, more than " + MAX_SEGMENT_LENGTH);
      }
      for (int i = 0; i < seg.length(); i++) {
        char c = seg.charAt(i);
        boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
            || c == '_' || c == '-';
        if (!ok) {
          throw new IllegalArgumentException("record key '" + key + "' has character U+"
              + String.format("%04X", (int) c) + "; only [A-Za-z0-9._-] and '/' are allowed");
        }
      }
    }
    return key;
  }

  /**
   * Checks a record's size against {@link #MAX_RECORD_BYTES}.
   *
   * @throws IllegalArgumentException naming the key and the size
   */
  static byte[] checkContent(String key, byte[] content) {
    if (content.length > MAX_RECORD_BYTES) {
      throw new IllegalArgumentException("record '" + key + "' is " + content.length + " bytes, more than "
          + MAX_RECORD_BYTES);
    }
    return content;
  }
}
