package io.ferry.id;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The identity of a stored object: the SHA-256 of its uncompressed content, held as four longs so that the value is
 * compact, immutable and cheap to compare. Chunks, packs, snapshots and versions are all named this way.
 */
public record ChunkId(long w0, long w1, long w2, long w3) implements Comparable<ChunkId>, java.io.Serializable {
  /** Length of the hex form. */
  public static final int HEX_LENGTH = 64;

  /** Reads an id from 32 bytes of a SHA-256 digest. */
  public static ChunkId fromBytes(byte[] digest) {
    if (digest.length != 32) {
      throw new IllegalArgumentException("a chunk id is 32 bytes, got " + digest.length);
    }
    ByteBuffer b = ByteBuffer.wrap(digest);
    return new ChunkId(b.getLong(), b.getLong(), b.getLong(), b.getLong());
  }

  /**
   * Parses the 64-character lower or upper case hex form.
   *
   * @throws IllegalArgumentException naming the text when it is not 64 hex digits
   */
  public static ChunkId parse(String hex) {
    if (hex == null || hex.length() != HEX_LENGTH) {
      throw new IllegalArgumentException("not a 64-digit hex object id: '" + hex + "'");
    }
    try {
      return fromBytes(HexFormat.of().parseHex(hex));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("not a 64-digit hex object id: '" + hex + "'", e);
    }
  }

  /** Whether the text is a well-formed 64-digit hex id. */
  public static boolean isValid(String hex) {
    if (hex == null || hex.length() != HEX_LENGTH) {
      return false;
    }
    for (int i = 0; i < hex.length(); i++) {
      if (Character.digit(hex.charAt(i), 16) < 0) {
        return false;
      }
    }
    return true;
  }

  /** The SHA-256 of the remaining bytes of the buffer (its position is left unchanged). */
  public static ChunkId of(ByteBuffer content) {
    MessageDigest md = sha256();
    md.update(content.duplicate());
    return fromBytes(md.digest());
  }

  /** The SHA-256 of the bytes. */
  public static ChunkId of(byte[] content) {
    return fromBytes(sha256().digest(content));
  }

  /** A fresh SHA-256 digest; callers own it (digests are not thread-safe). */
  public static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("this JVM has no SHA-256", e);
    }
  }

  /** The 32 digest bytes. */
  public byte[] toBytes() {
    return ByteBuffer.allocate(32).putLong(w0).putLong(w1).putLong(w2).putLong(w3).array();
  }

  /** The 64-character lower case hex form. */
  public String hex() {
    return HexFormat.of().formatHex(toBytes());
  }

  /** The first {@code n} hex digits, for display. */
  public String shortHex(int n) {
    return hex().substring(0, n);
  }

  @Override
  public int compareTo(ChunkId o) {
    int c = Long.compareUnsigned(w0, o.w0);
    if (c == 0) c = Long.compareUnsigned(w1, o.w1);
    if (c == 0) c = Long.compareUnsigned(w2, o.w2);
    if (c == 0) c = Long.compareUnsigned(w3, o.w3);
    return c;
  }

  @Override
  public String toString() {
    return hex();
  }

  /**
   * Written out, with the value a record's own would have: the record's is bootstrapped through method handles on
   * first use, which spins classes no class-data archive keeps, in every short command (ids are map keys everywhere).
   */
  @Override
  public boolean equals(Object o) {
    return o instanceof ChunkId c && w0 == c.w0 && w1 == c.w1 && w2 == c.w2 && w3 == c.w3;
  }

  @Override
  public int hashCode() {
    return 31 * (31 * (31 * Long.hashCode(w0) + Long.hashCode(w1)) + Long.hashCode(w2)) + Long.hashCode(w3);
  }
}
