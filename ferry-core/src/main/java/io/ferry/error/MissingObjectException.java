package io.ferry.error;

import io.ferry.id.ChunkId;

/** An object that a version needs and the store does not hold. */
public class MissingObjectException extends FerryException {
  private final ChunkId id;

  public MissingObjectException(ChunkId id, String where) {
    super("object " + id + " is missing from " + where);
    this.id = id;
  }

  public ChunkId id() {
    return id;
  }

  @Override
  public Kind kind() {
    return Kind.INTEGRITY;
  }
}
