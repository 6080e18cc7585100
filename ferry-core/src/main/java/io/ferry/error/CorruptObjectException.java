package io.ferry.error;

import io.ferry.id.ChunkId;

/**
 * A stored object whose bytes do not match its checksum or its id. Carries the object id and where it was read, so
 * that a replica can be marked bad and the user can find the file.
 */
public class CorruptObjectException extends FerryException {
  private final ChunkId id;
  private final String where;
  private final String why;

  public CorruptObjectException(ChunkId id, String where, String why) {
    super("object " + id + " at " + where + " is corrupt: " + why);
    this.id = id;
    this.where = where;
    this.why = why;
  }

  /**
   * The same defect, its message led by {@code context}: what the object holds (a file of a version, a tensor) for
   * the reader that met it. Same id, where and why; {@code cause} is kept as the cause, and what it carried as
   * suppressed (the failures of earlier reads of the object, from other replicas) is carried here too.
   */
  public CorruptObjectException(String context, CorruptObjectException cause) {
    super(context + ": " + cause.getMessage(), cause);
    this.id = cause.id;
    this.where = cause.where;
    this.why = cause.why;
    for (Throwable earlier : cause.getSuppressed()) {
      addSuppressed(earlier);
    }
  }

  public ChunkId id() {
    return id;
  }

  /** Where it was read: a file, an object key, a server (the store's own words; may be a path of the machine). */
  public String where() {
    return where;
  }

  /** The defect, without where: what a server may tell its clients. */
  public String why() {
    return why;
  }

  @Override
  public Kind kind() {
    return Kind.INTEGRITY;
  }
}
