package io.ferry.store.hdfs;

import io.ferry.id.ChunkId;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.MissingObjectException;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * A bounded LRU of open input streams, one per object, shared by concurrent positional readers. A stream is closed
 * when it is evicted (by size, by {@link #evict}, or by {@link #close}) and no reader holds it any more. Objects are
 * immutable, so a cached stream and its length never go stale; an object deleted behind our back makes reads fail,
 * and the caller evicts and retries.
 *
 * <p>Thread-safe.
 */
final class OpenFiles implements AutoCloseable {
  /** One open object. Readers {@link OpenFiles#acquire} it and must {@link OpenFiles#release} it. */
  static final class Handle {
    private final ChunkId id;
    private final FSDataInputStream in;
    private final long length;
    private int users;
    private boolean evicted;

    private Handle(ChunkId id, FSDataInputStream in, long length) {
      this.id = id;
      this.in = in;
      this.length = length;
    }

    FSDataInputStream in() {
      return in;
    }

    long length() {
      return length;
    }
  }

  private final FileSystem fs;
  private final int capacity;
  private final String uri;
  private final LinkedHashMap<ChunkId, Handle> open = new LinkedHashMap<>(16, 0.75f, true);
  private boolean closed;

  OpenFiles(FileSystem fs, int capacity, String uri) {
    this.fs = fs;
    this.capacity = capacity;
    this.uri = uri;
  }

  /**
   * The open stream of an object, opening it if needed (one {@code getFileStatus} and one {@code open}).
   *
   * @throws MissingObjectException if the object does not exist
   * @throws CorruptObjectException if a directory is at its path
   */
  Handle acquire(ChunkId id, Path path) throws IOException {
    synchronized (this) {
      ensureOpen();
      Handle h = open.get(id);
      if (h != null) {
        h.users++;
        return h;
      }
    }
    Handle fresh;
    try {
      FileStatus status = fs.getFileStatus(path);
      if (!status.isFile()) {
        // not missing (a put would refuse to store it) and not empty (WebHDFS gives a directory length 0)
        throw new CorruptObjectException(id, uri, "its path " + path.toUri().getPath() + " is a directory, not a"
            + " file; remove it (the object is then missing, and a push or copy of it stores it again)");
      }
      fresh = new Handle(id, fs.open(path), status.getLen());
    } catch (FileNotFoundException e) {
      throw new MissingObjectException(id, uri);
    }
    Handle toClose = null;
    synchronized (this) {
      if (closed) {
        toClose = fresh;
      } else {
        Handle raced = open.get(id);
        if (raced != null) {
          raced.users++;
          toClose = fresh;
          fresh = raced;
        } else {
          fresh.users++;
          open.put(id, fresh);
          trim();
        }
      }
    }
    if (toClose != null) {
      toClose.in.close();
      ensureOpen();
    }
    return fresh;
  }

  /** Ends a reader's use of a handle; closes the stream if it was evicted meanwhile and this was the last reader. */
  void release(Handle h) throws IOException {
    boolean close;
    synchronized (this) {
      h.users--;
      close = h.evicted && h.users == 0;
    }
    if (close) {
      h.in.close();
    }
  }

  /** Drops this handle from the cache (a read on it failed); it closes once its readers release it. */
  synchronized void evict(Handle h) {
    if (open.get(h.id) == h) {
      open.remove(h.id);
    }
    h.evicted = true;
  }

  /** Drops the object's stream, if any (the object is being deleted). */
  void evict(ChunkId id) throws IOException {
    Handle h;
    synchronized (this) {
      h = open.remove(id);
      if (h == null) {
        return;
      }
      h.evicted = true;
      if (h.users > 0) {
        return;
      }
    }
    h.in.close();
  }

  private void trim() {
    Iterator<Map.Entry<ChunkId, Handle>> it = open.entrySet().iterator();
    while (open.size() > capacity && it.hasNext()) {
      Handle h = it.next().getValue();
      it.remove();
      h.evicted = true;
      if (h.users == 0) {
        closeQuietly(h);
      }
    }
  }

  /** Closing an input stream we only read from cannot lose data; a failure here is not worth failing a read for. */
  private static void closeQuietly(Handle h) {
    try {
      h.in.close();
    } catch (IOException ignored) {
      // nothing was written through this stream
    }
  }

  private void ensureOpen() {
    if (closed) {
      throw new IllegalStateException(uri + " is closed");
    }
  }

  @Override
  public synchronized void close() {
    closed = true;
    for (Handle h : open.values()) {
      h.evicted = true;
      if (h.users == 0) {
        closeQuietly(h);
      }
    }
    open.clear();
  }
}
