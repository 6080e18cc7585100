package io.ferry.transfer;

import io.ferry.chunk.ChunkId;
import io.ferry.chunk.Frame;
import io.ferry.repo.ObjectDatabase;
import io.ferry.store.ChunkStore;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Copies versions between stores, object by object, as they are stored (frames and packs are not re-encoded, so ids
 * and versions stay identical). Sends only what the target lacks: chunks first, then packs, snapshot and version,
 * ancestors before descendants, so the target is valid at every moment. Every frame's CRC is checked on the way; with
 * {@code verify} also the SHA-256 of every chunk. Does not move refs.
 */
public final class Copier {
  private final ObjectDatabase source;
  private final ChunkStore target;
  private final ExecutorService pool;
  private final TransferListener listener;
  private final boolean verify;
  private final ByteBudget budget = ByteBudget.forHeap();
  private final AtomicLong objects = new AtomicLong();
  private final AtomicLong bytes = new AtomicLong();

  public Copier(ObjectDatabase source, ChunkStore target, ExecutorService pool, boolean verify,
      TransferListener listener) {
    this.source = source;
    this.target = target;
    this.pool = pool;
    this.verify = verify;
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
    ObjectDatabase.Locator loc = source.locator(v.packs());
    Set<ChunkId> loose = new LinkedHashSet<>();
    long total = 0;
    for (FileEntry f : s.files()) {
      for (ChunkRef c : f.chunks()) {
        if (c.length() >= ObjectDatabase.PACK_THRESHOLD && loose.add(c.id())) {
          total += c.length();
        }
      }
    }
    listener.phase("copy", total);
    List<ChunkId> missing = target.missing(new ArrayList<>(loose));
    List<Future<?>> futures = new ArrayList<>();
    for (ChunkId id : missing) {
      futures.add(pool.submit(() -> {
        ObjectDatabase.Location l = loc.locate(id);
        long size = source.store().size(id);
        int taken = budget.acquire(size);
        try {
          ByteBuffer frame = source.readFrame(l);
          checkFrame(l, frame);
          long n = frame.remaining();
          if (target.put(id, frame)) {
            objects.incrementAndGet();
            bytes.addAndGet(n);
          }
          listener.progress(size);
        } finally {
          budget.release(taken);
        }
        return null;
      }));
    }
    for (Future<?> f : futures) {
      Futures.await(f, "copying to " + target.describe());
    }
    for (ChunkId pack : v.packs()) {
      if (!target.contains(pack)) {
        source.packIndex(pack);
        ByteBuffer bytesOfPack = source.store().get(pack);
        if (verify && !ChunkId.of(bytesOfPack).equals(pack)) {
          throw new io.ferry.error.CorruptObjectException(pack, source.store().describe() + " pack " + pack,
              "content hashes to " + ChunkId.of(bytesOfPack));
        }
        putRaw(pack, bytesOfPack);
      }
    }
    copyFramed(v.snapshot());
    copyFramed(versionId);
  }

  private void checkFrame(ObjectDatabase.Location l, ByteBuffer frame) throws IOException {
    if (verify) {
      source.verifyChunk(l, Frame.parseHeader(frame, l.chunk(), source.describe(l)).rawLength());
      return;
    }
    String where = source.describe(l);
    Frame.Header h = Frame.parseHeader(frame, l.chunk(), where);
    Frame.checkPayload(h, frame.duplicate().position(frame.position() + Frame.HEADER_LENGTH), l.chunk(), where);
  }

  private void copyFramed(ChunkId id) throws IOException {
    if (target.contains(id)) {
      return;
    }
    source.readObject(id); // checks frame, CRC and SHA-256
    putRaw(id, source.store().get(id));
  }

  private void putRaw(ChunkId id, ByteBuffer b) throws IOException {
    long n = b.remaining();
    if (target.put(id, b)) {
      objects.incrementAndGet();
      bytes.addAndGet(n);
    }
  }
}
