package io.ferry.error;

import io.ferry.id.ChunkId;

/** An object that a version needs and the store does not hold. */
public class MissingObjectException extends FerryException {
  private final ChunkId id;

  public MissingObjectException(ChunkId id, String where) {
    super("object " + id + " is missing from " + where);
    this.id = id;
  }

  /**
   * The same absence, its message led by {@code context}: what the object holds (a file of a version, a tensor) for
   * the reader that missed it. Same id; {@code cause} is kept as the cause.
   */
  public MissingObjectException(String context, MissingObjectException cause) {
    super(context + ": " + cause.getMessage(), cause);
    this.id = cause.id;
    for (Throwable earlier : cause.getSuppressed()) {
      addSuppressed(earlier); // the failures of earlier reads (other replicas), as CorruptObjectException keeps them
    }
  }

  public ChunkId id() {
    return id;
  }

  @Override
  public Kind kind() {
    return Kind.INTEGRITY;
  }
}
