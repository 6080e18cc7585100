package io.ferry.format.torch;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Bytes a checkpoint is read from with positional reads: a file being pushed, or a file of a stored version read
 * through the verified chunk path. Implementations are safe for the reads of one reader at a time.
 */
public interface ByteSource {
  /** The name errors give (the file's path in the model). */
  String name();

  /** The size in bytes. */
  long size();

  /**
   * Fills {@code dst} from {@code position} on.
   *
   * @throws java.io.EOFException if the bytes end first
   * @throws IOException if they cannot be read
   */
  void readFully(ByteBuffer dst, long position) throws IOException;
}
