package io.ferry.transfer;

import io.ferry.concurrent.Futures;
import io.ferry.id.ChunkId;
import io.ferry.chunk.Frame;
import io.ferry.read.ChunkReader;
import io.ferry.read.Location;
import io.ferry.read.Locator;
import io.ferry.objects.ObjectDatabase;
import io.ferry.store.ChunkStore;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Copies versions between stores, object by object, as they are stored (frames and packs are not re-encoded, so ids
 * and versions stay identical). Sends only what the target lacks: chunks first, then packs, snapshot and version,
 * ancestors before descendants, so the target is valid at every moment. Every chunk is read through the source's
 * {@link ChunkReader} (frame, length against the snapshot, CRC; with {@code verify} also its SHA-256); packs,
 * snapshots and versions are always checked completely (a pack is sent whole, its frames unread, so a check of its
 * header alone sent a damaged pack and published a version no one could read). Does not move refs.
 */
public final class Copier {
  private final ObjectDatabase source;
  private final ChunkStore target;
  private final ExecutorService pool;
  private final TransferListener listener;
  private final ChunkReader reader;
  private final ChunkReader.Check check;
  private final ByteBudget budget = ByteBudget.forHeap();
  private final AtomicLong objects = new AtomicLong();
  private final AtomicLong bytes = new AtomicLong();
  /** Packs this copier sent (the target lacked them), for the target's small-chunk index. */
  private final Set<ChunkId> packsSent = ConcurrentHashMap.newKeySet();
  /** Objects this copier's puts created in the target (it lacked them), for removing them if the copy fails. */
  private final Set<ChunkId> created = ConcurrentHashMap.newKeySet();
  /** Set when a send failed: tasks not started yet stop at once. */
  private volatile boolean aborted;

  public Copier(ObjectDatabase source, ChunkStore target, ExecutorService pool, boolean verify,
      TransferListener listener) {
    this.source = source;
    this.target = target;
    this.pool = pool;
    this.reader = source.reader();
    this.check = verify ? ChunkReader.Check.CONTENT : ChunkReader.Check.FRAME;
    this.listener = listener;
  }

  /** Objects and stored bytes sent so far. */
  public long objectsSent() {
    return objects.get();
  }

  public long bytesSent() {
    return bytes.get();
  }

  /**
   * Copies {@code version} and every ancestor the target lacks. Returns the ids of the versions sent, oldest first.
   */
  public List<ChunkId> copy(ChunkId version) throws IOException {
    List<ChunkId> order = new ArrayList<>();
    Set<ChunkId> seen = new LinkedHashSet<>();
    collect(version, seen, order);
    for (ChunkId v : order) {
      copyOne(v);
    }
    return order;
  }

  /**
   * Sends again whatever the target lacks of each version (its chunks, packs, snapshot and the version itself), for
   * objects a concurrent gc on the target removed after they were sent.
   */
  public void resend(List<ChunkId> versions) throws IOException {
    for (ChunkId v : versions) {
      copyOne(v);
    }
  }

  /** A version of the source store. */
  public Version sourceVersion(ChunkId id) throws IOException {
    return source.version(id);
  }

  /** The snapshot of a version of the source store. */
  public Snapshot sourceSnapshot(Version v) throws IOException {
    return source.snapshot(v.snapshot());
  }

  /** Ancestors first (iterative post-order over parents), stopping at versions the target already has. */
  private void collect(ChunkId root, Set<ChunkId> seen, List<ChunkId> order) throws IOException {
    List<ChunkId[]> stack = new ArrayList<>();
    stack.add(new ChunkId[] {root, null});
    while (!stack.isEmpty()) {
      ChunkId[] top = stack.remove(stack.size() - 1);
      ChunkId id = top[0];
      if (top[1] != null) {
        order.add(id);
        continue;
      }
      if (!seen.add(id) || target.contains(id)) {
        continue;
      }
      stack.add(new ChunkId[] {id, id});
      for (ChunkId p : source.version(id).parents()) {
        stack.add(new ChunkId[] {p, null});
      }
    }
  }

  private void copyOne(ChunkId versionId) throws IOException {
    Version v = source.version(versionId);
    Snapshot s = source.snapshot(v.snapshot());
    Locator loc = source.locator(v.packs());
    Map<ChunkId, Long> loose = new LinkedHashMap<>();
    long total = 0;
    for (FileEntry f : s.files()) {
      for (ChunkRef c : f.chunks()) {
        if (c.length() >= ObjectDatabase.PACK_THRESHOLD && loose.putIfAbsent(c.id(), c.length()) == null) {
          total += c.length();
        }
      }
    }
    listener.phase("copy", total);
    List<ChunkId> missing = target.missing(new ArrayList<>(loose.keySet()));
    List<Future<?>> futures = new ArrayList<>();
    for (ChunkId id : missing) {
      long length = loose.get(id);
      futures.add(pool.submit(() -> {
        if (aborted) {
          throw new java.io.InterruptedIOException("copy aborted");
        }
        int taken = budget.acquire(length + Frame.HEADER_LENGTH);
        try {
          ByteBuffer frame = reader.storedFrame(loc.locate(id), length, check);
          putRaw(id, frame);
          listener.progress(length);
        } finally {
          budget.release(taken);
        }
        return null;
      }));
    }
    try {
      for (Future<?> f : futures) {
        Futures.await(f, "copying to " + target.describe());
      }
    } catch (IOException | RuntimeException e) {
      // every running put ends before the caller removes what was created: one finishing later would stay behind
      aborted = true;
      Futures.awaitEnd(futures, e);
      throw e;
    }
    for (ChunkId pack : v.packs()) {
      if (!target.contains(pack)) {
        putRaw(pack, source.packBytes(pack, ChunkReader.Check.CONTENT));
        packsSent.add(pack);
      }
    }
    copyFramed(v.snapshot());
    copyFramed(versionId);
  }

  /** Copies a snapshot or version object as stored, after checking it completely (SHA-256 included). */
  private void copyFramed(ChunkId id) throws IOException {
    if (target.contains(id)) {
      return;
    }
    putRaw(id, reader.storedFrame(Location.loose(id), ChunkReader.ANY_LENGTH, ChunkReader.Check.CONTENT));
  }

  /** The objects sent so far that the target lacked: what removing a failed copy's writes removes. */
  public List<ChunkId> created() {
    return List.copyOf(created);
  }

  /** The packs sent so far: the target lacked them, and they are durable there. */
  public Set<ChunkId> packsSent() {
    return Set.copyOf(packsSent);
  }

  private void putRaw(ChunkId id, ByteBuffer b) throws IOException {
    long n = b.remaining();
    if (target.put(id, b)) {
      created.add(id);
      objects.incrementAndGet();
      bytes.addAndGet(n);
    }
  }
}
