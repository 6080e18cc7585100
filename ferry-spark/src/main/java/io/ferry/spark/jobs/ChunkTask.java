package io.ferry.spark.jobs;

import io.ferry.id.ChunkId;
import io.ferry.read.Location;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.ToLongFunction;

/**
 * One stored copy of a chunk for an executor to check or copy: where its frame is (a loose object, or a range of a
 * pack) and the raw length the snapshot records. Serializable and small (ids as hex).
 *
 * @param chunk hex id of the chunk
 * @param object hex id of the object holding its frame: the chunk itself, or a pack
 * @param offset where the frame starts in {@code object}
 * @param frameLength the frame's length in a pack, -1 for a loose object
 * @param rawLength the raw length a snapshot records, or -1 when unknown (a pack entry no checked version names)
 * @param where what holds it, for errors: {@code model@id//file}
 */
public record ChunkTask(String chunk, String object, long offset, int frameLength, long rawLength, String where)
    implements Serializable {
  private static final long serialVersionUID = 1L;

  public ChunkTask {
    Objects.requireNonNull(chunk, "chunk");
    Objects.requireNonNull(object, "object");
    Objects.requireNonNull(where, "where");
  }

  /** A loose chunk. */
  static ChunkTask loose(ChunkId id, long rawLength, String where) {
    return new ChunkTask(id.hex(), id.hex(), 0, -1, rawLength, where);
  }

  /** Where core's reader finds the frame. */
  Location location() {
    ChunkId c = ChunkId.parse(chunk);
    ChunkId o = ChunkId.parse(object);
    return c.equals(o) ? Location.loose(c) : Location.inPack(c, o, offset, frameLength);
  }

  /** Bytes this task moves, for balancing: the raw length, else the frame length. */
  long weight() {
    return Math.max(1, rawLength >= 0 ? rawLength : frameLength);
  }

  /**
   * Cuts tasks into groups of about {@code targetBytes} each (a bigger task is a group of its own), in order: one
   * group is one Spark task.
   */
  static <T> List<List<T>> groups(List<T> items, ToLongFunction<T> weight, long targetBytes) {
    List<List<T>> out = new ArrayList<>();
    List<T> cur = new ArrayList<>();
    long bytes = 0;
    for (T t : items) {
      long w = weight.applyAsLong(t);
      if (!cur.isEmpty() && bytes + w > targetBytes) {
        out.add(cur);
        cur = new ArrayList<>();
        bytes = 0;
      }
      cur.add(t);
      bytes += w;
    }
    if (!cur.isEmpty()) {
      out.add(cur);
    }
    return out;
  }
}
