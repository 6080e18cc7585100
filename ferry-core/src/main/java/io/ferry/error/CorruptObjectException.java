package io.ferry.error;

import io.ferry.id.ChunkId;

/**
 * A stored object whose bytes do not match its checksum or its id. Carries the object id and where it was read, so
 * that a replica can be marked bad and the user can find the file.
 */
public class CorruptObjectException extends FerryException {
  private final ChunkId id;

  public CorruptObjectException(ChunkId id, String where, String why) {
    super("object " + id + " at " + where + " is corrupt: " + why);
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
