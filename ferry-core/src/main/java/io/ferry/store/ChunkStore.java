package io.ferry.store;

import io.ferry.id.ChunkId;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Backend SPI: a flat space of immutable objects named by {@link ChunkId}. Objects are chunk frames, packs, snapshots
 * and versions; the store does not interpret them. Core owns everything else (framing, checksums, packing, dedup,
 * versions); a backend implements only these methods.
 *
 * <p>Contract, which {@code ChunkStoreContract} in ferry-testkit checks for every backend:
 *
 * <ul>
 *   <li>{@link #put} is atomic and idempotent: a reader sees either no object or the whole object, never a prefix; a
 *       put of an id that exists is a no-op that succeeds, also when several threads or processes put it at once.
 *   <li>Once {@link #put} returns, the object is durable (survives a crash of the writer).
 *   <li>Objects never change. {@link #delete} is used by gc only and removes an object entirely.
 *   <li>All methods are safe to call from many threads at once.
 *   <li>A missing object is reported by {@link io.ferry.error.MissingObjectException} from the read methods, and by
 *       {@code false} from {@link #contains}; only system faults throw other {@link IOException}s.
 * </ul>
 */
public interface ChunkStore extends Closeable {

  /** Where this store is, for error messages: its URI. */
  String describe();

  /**
   * Whether the bytes this store returns may be taken as the bytes that were written without hashing them: true only
   * for a store on this machine's own disks (a local store), whose frames' CRCs catch what disks do. Every other store
   * (S3, HDFS, Cassandra, a Ferry server) and every cache in front of one is another party or shares a network with
   * others: whoever can write there can write a well-formed frame with a right CRC and wrong content. Every read
   * from such a store checks the SHA-256 of the content against the chunk id ({@link
   * io.ferry.read.ChunkReader.Check#CONTENT}), {@code --verify} or not. Wrappers that forward every call forward this.
   */
  default boolean trusted() {
    return false;
  }

  /**
   * Told that bytes of the object this store gave failed a reader's checks; answers whether reading it once more may
   * bring other bytes, which the reader then does. A cache forgets its copy, so that the next read goes to the store
   * behind it; a store over several servers stops asking the one that sent those bytes for the object, and one over
   * a network may have had them damaged on the way. A store whose bytes are what it holds has nothing to change.
   */
  default boolean readRejected(ChunkId object) throws IOException {
    return false;
  }

  /**
   * Which of the store's servers sent the calling thread's last read of the object, for an error about its bytes to
   * name (a store over several servers says which one sent bytes that failed their checks); null for a store that is
   * one place, whose {@link #describe()} already says where. Wrappers forward it.
   */
  default String lastSender(ChunkId object) {
    return null;
  }

  /** Whether the store holds the object. */
  boolean contains(ChunkId id) throws IOException;

  /**
   * The ids among {@code ids} that the store does not hold, in the order given. Backends with a batch lookup should
   * override this; the default asks one by one.
   */
  default List<ChunkId> missing(Collection<ChunkId> ids) throws IOException {
    List<ChunkId> out = new ArrayList<>();
    for (ChunkId id : ids) {
      if (!contains(id)) {
        out.add(id);
      }
    }
    return out;
  }

  /**
   * Stores an object made of the concatenation of the remaining bytes of {@code parts}. Atomic, durable and idempotent
   * (see the class contract). The buffers' positions may be advanced. The store does not check that the id matches
   * the content; core does.
   *
   * @return true if this call created the object, false if it already existed (so a failed push can remove exactly
   *     the objects it created); an existing object is left as it is
   */
  boolean put(ChunkId id, ByteBuffer... parts) throws IOException;

  /** The size in bytes of the stored object. */
  long size(ChunkId id) throws IOException;

  /**
   * Reads {@code length} bytes of the stored object from {@code offset}. The result may be a read-only view (for
   * example a memory map) that stays valid after the call, also if the object is deleted later; its position is 0
   * and its limit {@code length}. A zero-length read at any offset up to the object's size returns an empty buffer.
   *
   * @throws io.ferry.error.MissingObjectException if the object is absent
   * @throws java.io.EOFException if the range runs past the end of the object
   */
  ByteBuffer read(ChunkId id, long offset, int length) throws IOException;

  /**
   * Reads {@code dst.remaining()} bytes of the stored object from {@code offset} into {@code dst}, advancing its
   * position. An optional fast path: backends that can read straight into a caller's buffer (a positional file read)
   * override it to spare the copy out of {@link #read}'s result; the default copies from {@link #read}.
   *
   * @throws io.ferry.error.MissingObjectException if the object is absent
   * @throws java.io.EOFException if the range runs past the end of the object
   */
  default void readInto(ChunkId id, long offset, ByteBuffer dst) throws IOException {
    dst.put(read(id, offset, dst.remaining()));
  }

  /** Reads the whole object; for objects known to be small enough for one buffer (at most 2 GiB). */
  default ByteBuffer get(ChunkId id) throws IOException {
    long size = size(id);
    if (size > Integer.MAX_VALUE - 64) {
      throw new IOException("object " + id + " in " + describe() + " is " + size + " bytes, too big for one buffer");
    }
    return read(id, 0, (int) size);
  }

  /**
   * The hosts that hold bytes {@code [offset, offset + length)} of the stored object locally, best first, for
   * schedulers that place work next to its data (Spark's preferred locations). Only a hint: it may be stale or empty,
   * and reads never depend on it. The default, for stores whose data has no host (a local disk, S3), is an empty list;
   * HDFS answers with the DataNodes of the blocks of that range.
   *
   * @throws io.ferry.error.MissingObjectException if the object is absent and the store can tell
   */
  default List<String> hosts(ChunkId id, long offset, long length) throws IOException {
    return List.of();
  }

  /**
   * Calls {@code sink} once for every object in the store, in no particular order, streaming (memory does not grow
   * with the number of objects). Objects put or deleted during the listing may or may not be reported; puts in
   * progress are never reported.
   */
  void list(Consumer<StoredObject> sink) throws IOException;

  /**
   * An optional fast path for finding objects by an abbreviated id (resolving {@code model@3f2a}): calls {@code sink}
   * with the id of every object whose id, in lower-case hex, starts with {@code hexPrefix}, as {@link #list} would
   * report them, and returns true; or returns false, calling nothing, where the store cannot do it without listing
   * everything, and the caller then finds the ids its own way. The default returns false; a store that keeps its
   * objects under their ids' leading digits (a local store's fan-out directories) lists only those.
   *
   * @param hexPrefix lower-case hex digits, at most a whole id
   */
  default boolean listIds(String hexPrefix, Consumer<ChunkId> sink) throws IOException {
    return false;
  }

  /** Removes the object; a no-op if it is absent. Used only by gc. */
  void delete(ChunkId id) throws IOException;

  /**
   * Removes the object, as {@link #delete} does, and says whether this call removed it: false when it was absent, for
   * example because another gc removed it a moment before, so that gc reports only what it freed. The default, for
   * stores whose delete cannot tell, deletes and answers true; two gcs running at once on such a store may then both
   * count an object.
   */
  default boolean deleteIfPresent(ChunkId id) throws IOException {
    delete(id);
    return true;
  }

  /**
   * Removes what interrupted puts left behind (for example the temporary file of a writer that was killed) and that
   * was last modified before {@code olderThan}. Used only by gc, with its grace period, so a put in progress keeps
   * its files. Never removes an object. Backends whose puts leave nothing behind keep this default, which does
   * nothing.
   *
   * @return how many leftovers were removed
   */
  default long removeAbandoned(Instant olderThan) throws IOException {
    return 0;
  }

  /**
   * Why deleting objects may not free their bytes in this store, for gc to tell its user (an S3 bucket with
   * versioning keeps what a delete removes as a noncurrent version); empty, the default, when deletes free them or
   * the store cannot tell. Asked once by each gc run.
   */
  default Optional<String> deletionCaveat() throws IOException {
    return Optional.empty();
  }

  /**
   * Damage to the store's own layout that reads of objects pass over and a store-wide {@code verify} reports, one
   * sentence each naming the path and the defect (a local store's fan-out directory of objects that is a symbolic
   * link, which gc refuses); empty, the default, for stores that have no such layout. Reads no object.
   */
  default List<String> layoutDamage() throws IOException {
    return List.of();
  }
}
