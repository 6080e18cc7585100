package io.ferry.read;

import io.ferry.error.CorruptObjectException;
import io.ferry.error.MissingObjectException;
import io.ferry.format.TensorInfo;
import io.ferry.version.FileEntry;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.channels.ClosedByInterruptException;

/**
 * Names what a damaged or missing chunk holds: the file of the version, the byte range, and the tensors in it, so
 * that an error of a pull, a cat or a tensor read says which part of the model it could not give back, not only an
 * object id.
 */
public final class ChunkOwners {
  private ChunkOwners() {}

  /**
   * {@code e} with its message led by the file and tensors of bytes {@code [from, to)} of {@code f} when it is a
   * damaged or missing object (same type, id and cause chain); a read that an interrupt of its thread stopped
   * (the channel's {@link ClosedByInterruptException}, which has no message) as an {@link InterruptedIOException}
   * that names them (the thread stays interrupted); any other exception as it is.
   */
  public static IOException in(IOException e, FileEntry f, long from, long to) {
    if (e instanceof ClosedByInterruptException) {
      InterruptedIOException named = new InterruptedIOException("interrupted while reading " + describe(f, from, to));
      named.initCause(e);
      return named;
    }
    if (e instanceof CorruptObjectException c) {
      return new CorruptObjectException(describe(f, from, to), c);
    }
    if (e instanceof MissingObjectException m) {
      return new MissingObjectException(describe(f, from, to), m);
    }
    return e;
  }

  /** {@code model.safetensors bytes [8, 1032) (tensor 'w')}: the file, the range and what it holds. */
  public static String describe(FileEntry f, long from, long to) {
    StringBuilder s = new StringBuilder(f.path()).append(" bytes [").append(from).append(", ").append(to).append(')');
    String first = null;
    String last = null;
    int n = 0;
    for (TensorInfo t : f.tensors()) {
      long begin = f.dataStart() + t.begin();
      long end = f.dataStart() + t.end();
      boolean overlaps = begin < to && from < end || begin == end && from <= begin && begin < to;
      if (overlaps) {
        first = first == null ? t.name() : first;
        last = t.name();
        n++;
      }
    }
    if (from < f.dataStart() && !f.tensors().isEmpty()) {
      s.append(n == 0 ? " (the header)" : " (the header and");
    }
    if (n > 0) {
      s.append(from < f.dataStart() ? " " : " (").append(n == 1 ? "tensor '" + first + "'"
          : n + " tensors, '" + first + "' to '" + last + "'").append(')');
    }
    return s.toString();
  }
}
