package io.ferry.transfer;

import io.ferry.concurrent.Futures;
import io.ferry.id.ChunkId;
import io.ferry.chunk.ChunkPlanner;
import io.ferry.chunk.Frame;
import io.ferry.codec.CodecPolicy;
import io.ferry.codec.FloatCodec;
import io.ferry.error.InvalidInputException;
import io.ferry.format.registry.FormatRegistry;
import io.ferry.pack.PackIndex;
import io.ferry.pack.PackWriter;
import io.ferry.read.Locator;
import io.ferry.read.ReadBuffers;
import io.ferry.objects.ObjectDatabase;
import io.ferry.scan.ModelFiles;
import io.ferry.scan.ModelFiles.SourceFile;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.ObjectJson;
import io.ferry.version.Snapshot;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32C;

/**
 * Stores the chunks of a model's files: scans and validates the source completely, then hashes every chunk in
 * parallel and writes those the store lacks (big chunks as objects of their own, small ones into packs), while the
 * files' SHA-256 are computed beside. Does not create versions or move refs; {@link io.ferry.repo.Repository} does
 * that once this returns. On failure, every object this push created is removed again, so a failed push leaves the
 * store as it was.
 *
 * <p>Source files are read with positional reads into reused buffers, never mapped: each chunk is read once, and the
 * bytes hashed are the bytes encoded and written. A file of several chunks is read a second time, beside, for its
 * whole-file SHA-256; both reads take a CRC32C of each chunk's bytes, in the slices they hash, and the push checks that
 * they agree, so that the file's SHA-256 is that of the chunks stored. A file that changes while it is pushed (its
 * size, modification or status-change time, or identity differ from the scan's, it ends early, or its two reads
 * differ: a change its times cannot show, made within one tick of a coarse file clock or through another of its names)
 * fails the push with an {@link InvalidInputException}, and nothing is stored.
 */
public final class Pusher {
  private static final String EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  private static final long PACK_TARGET = 16L << 20;

  private final ObjectDatabase db;
  private final ChunkPlanner planner;
  private final FormatRegistry formats;
  private final ExecutorService pool;
  private final CodecPolicy codec;
  private final TransferListener listener;
  private final ObjectRemover remover;
  /** Bounds what the encodes hold beside their inputs and pooled payloads; made by {@link #store} for its chunks. */
  private ByteBudget encodeBudget;
  /** Direct buffers: whole-file hashes, and chunks that go to the store as they are or through zstd. */
  private final ReadBuffers buffers = new ReadBuffers(ByteBudget.heapShare());
  /**
   * Heap buffers for the float chunks of a push with a codec: the float codec works on arrays and would otherwise copy
   * each chunk onto the heap first, which on a small heap is what runs out. Made by {@link #store} for its chunks
   * ({@link #floatInputs}), bounded like the encode budget (at least one buffer): each bf16 or f16 encode holds its
   * input here, so a heap with room for two of the push's biggest chunks in 40% of it (the launcher's on two cores,
   * for 64 MiB chunks) encodes two at once (docs/memory.md).
   */
  private ReadBuffers arrayBuffers;
  /**
   * Heap arrays the float codec writes big chunks' payloads into ({@link PayloadArray}), kept for the next chunk once
   * the chunk is in the store. A new payload array per chunk was 1.3 GB of arrays of tens of MiB in a push of a 2 GB
   * bf16 model with a 371 MiB heap: 30 collections, a few of which copied such arrays out of the young generation for
   * 150-210 ms each while every worker waited (0.35-0.73 s of pauses a push). Bounded by a quarter of the heap: the
   * payloads of two 64 MiB bf16 chunks of weight-like values (about 44 MiB each) on the launcher's heap for two cores,
   * so both cores encode; payloads near the chunk's size (values the codec barely compresses) go one at a time, so
   * that inputs and payloads together stay within seven twelfths of the heap (a payload bigger than the bound waits
   * for the others and runs alone). The encode budget charges each encode apart ({@link #encodeFootprint}). With a
   * sixth, one payload at a time, the second core's encode waited for the first chunk's write and {@code fsync}.
   */
  private final ReadBuffers payloads = new ReadBuffers(ByteBudget.heapShare() * 3 / 4, ByteBuffer::allocate);
  /** Set when the push failed, so that queued chunk tasks stop without writing. */
  private volatile boolean aborted;

  /**
   * Removes the objects a failed push created. The repository supplies one that honours other pushes' leases, so that
   * an object a concurrent push found and reuses is never removed under it.
   */
  @FunctionalInterface
  public interface ObjectRemover {
    /** Removes {@code created}; failures are attached to {@code cause}, never thrown. */
    void remove(List<ChunkId> created, Throwable cause);
  }

  public Pusher(ObjectDatabase db, ChunkPlanner planner, ExecutorService pool, CodecPolicy codec,
      TransferListener listener, ObjectRemover remover) {
    this(db, planner, FormatRegistry.standard(), pool, codec, listener, remover);
  }

  /** A pusher that recognises the files of a source with the given formats. */
  public Pusher(ObjectDatabase db, ChunkPlanner planner, FormatRegistry formats, ExecutorService pool,
      CodecPolicy codec, TransferListener listener, ObjectRemover remover) {
    this.formats = formats;
    this.remover = remover;
    this.db = db;
    this.planner = planner;
    this.pool = pool;
    this.codec = codec;
    this.listener = listener;
  }

  /**
   * What a push stored.
   *
   * @param packs every pack the snapshot's small chunks are in: written by this push, reused from the model's
   *     versions, or found through the store-wide index
   * @param written the indexes of the packs this push wrote (created or already present), for the small-chunk index
   */
  public record Staged(ChunkId snapshotId, Snapshot snapshot, List<ChunkId> packs, List<ChunkId> created,
      long newStoredBytes, long newChunks, List<PackIndex> written) {}

  /** The validated files of a source, before anything is written. */
  public record Prepared(List<SourceFile> files, Map<String, List<ChunkPlanner.Range>> plans) {}

  /** Scans, validates and plans; writes nothing. */
  public Prepared prepare(Path source) throws IOException {
    return prepare(source, List.of());
  }

  /**
   * Scans, validates and plans a source that must not contain nor lie in any of {@code excluded} (the directory of a
   * local store the push writes to); writes nothing.
   */
  public Prepared prepare(Path source, List<Path> excluded) throws IOException {
    return prepare(source, excluded, io.ferry.scan.PathFilter.ALL);
  }

  /**
   * Scans, validates and plans the files of a source that {@code filter} (and the source's {@code .ferryignore})
   * take, as {@link #prepare(Path, List)}; files not taken are never read. Writes nothing.
   */
  public Prepared prepare(Path source, List<Path> excluded, io.ferry.scan.PathFilter filter) throws IOException {
    List<SourceFile> files = ModelFiles.scan(source, formats, excluded, filter);
    Map<String, List<ChunkPlanner.Range>> plans = new java.util.HashMap<>();
    for (SourceFile f : files) {
      if (f.layout() != null) {
        plans.put(f.path(), planner.plan(f.layout()));
      } else {
        try (FileChannel ch = FileChannel.open(f.file(), StandardOpenOption.READ)) {
          try {
            plans.put(f.path(), planner.plan(ch, f.size()));
          } catch (java.io.EOFException e) {
            throw changed(f, "it has " + ch.size() + " bytes, it had " + f.size() + " when scanned");
          }
        }
      }
    }
    return new Prepared(files, plans);
  }

  /**
   * Hashes and stores the chunks of prepared files.
   *
   * @param known chunks that already exist in packs this push may reference (those of the model's current versions)
   */
  public Staged store(Prepared prepared, Locator known) throws IOException {
    return store(prepared, known, IndexLookup.NONE);
  }

  /**
   * A store-wide index of small chunks a push may consult beside the model's own packs (the repository's small-chunk
   * index). Thread-safe: the push's workers look chunks up at once.
   */
  @FunctionalInterface
  public interface IndexLookup {
    /** Finds nothing: a push without a store-wide index. */
    IndexLookup NONE = (id, content) -> Optional.empty();

    /**
     * Where the chunk's frame is, in a pack that holds it now (checked against that pack's index and found to hold
     * {@code content}, the bytes this push hashed to {@code id}), or empty.
     */
    Optional<PackIndex.Entry> locate(ChunkId id, ByteBuffer content) throws IOException;
  }

  /**
   * Hashes and stores the chunks of prepared files; a small chunk found in {@code known} or, failing that, in the
   * store-wide {@code index} (checked against its pack's index) is not stored again, and its pack joins the
   * snapshot's packs.
   *
   * @param known chunks that already exist in packs this push may reference (those of the model's current versions)
   * @param index the store-wide small-chunk index, or {@link IndexLookup#NONE}
   */
  public Staged store(Prepared prepared, Locator known, IndexLookup index) throws IOException {
    long biggest = biggestFloatChunk(prepared);
    arrayBuffers = floatInputs(biggest);
    encodeBudget = new ByteBudget(ByteBudget.forTwo(biggest));
    Lookup lookup = new Lookup(known, index);
    List<ChunkId> created = Collections.synchronizedList(new ArrayList<>());
    AtomicLong storedBytes = new AtomicLong();
    AtomicLong newChunks = new AtomicLong();
    List<ChunkId> packs = Collections.synchronizedList(new ArrayList<>());
    List<PackIndex> written = Collections.synchronizedList(new ArrayList<>());
    PackSink sink = new PackSink(created, storedBytes, packs, written);
    long total = 0;
    for (SourceFile f : prepared.files()) {
      total += f.size();
    }
    listener.phase("push", total);
    listener.files(prepared.files().size());
    List<Future<?>> futures = new ArrayList<>();
    try {
      // Whole-file SHA-256s are the longest sequential tasks: start them first, biggest first. A file that is one
      // chunk needs none: its SHA-256 is that chunk's id.
      List<Future<String>> fileHashes = new ArrayList<>(java.util.Collections.nCopies(prepared.files().size(), null));
      // a file is open only while a task reads it, so a model of many files never runs out of file descriptors
      List<OpenWhileUsed> byFile = new ArrayList<>();
      for (SourceFile f : prepared.files()) {
        byFile.add(openWhileRead(f));
      }
      List<Integer> bySize = new ArrayList<>();
      for (int i = 0; i < prepared.files().size(); i++) {
        bySize.add(i);
      }
      bySize.sort((a, b) -> Long.compare(prepared.files().get(b).size(), prepared.files().get(a).size()));
      // the chunks of a file in batches, one task each (a model of many small tensors is not a task per tensor)
      List<List<List<ChunkPlanner.Range>>> batches = new ArrayList<>();
      for (SourceFile f : prepared.files()) {
        batches.add(batches(prepared.plans().get(f.path())));
      }
      // the CRC32C of each chunk of a file of several chunks, as its chunk task read it and as its hash task read it
      List<long[]> chunkCrcs = new ArrayList<>();
      List<long[]> hashedCrcs = new ArrayList<>();
      for (SourceFile f : prepared.files()) {
        int chunks = prepared.plans().get(f.path()).size();
        chunkCrcs.add(chunks != 1 ? new long[chunks] : null);
        hashedCrcs.add(chunks != 1 ? new long[chunks] : null);
      }
      // a file is done when its chunks are stored and its hash taken: each task counts its file down
      List<AtomicInteger> tasksLeft = new ArrayList<>();
      for (int i = 0; i < prepared.files().size(); i++) {
        int chunks = prepared.plans().get(prepared.files().get(i).path()).size();
        tasksLeft.add(new AtomicInteger(batches.get(i).size() + (chunks != 1 ? 1 : 0)));
      }
      for (int i : bySize) {
        SourceFile f = prepared.files().get(i);
        if (prepared.plans().get(f.path()).size() != 1) {
          OpenWhileUsed src = byFile.get(i);
          AtomicInteger left = tasksLeft.get(i);
          List<ChunkPlanner.Range> plan = prepared.plans().get(f.path());
          long[] crcs = hashedCrcs.get(i);
          Future<String> fh = pool.submit(() -> {
            String sha = src.use(ch -> fileSha256(f, ch, plan, crcs));
            taskDone(left);
            return sha;
          });
          fileHashes.set(i, fh);
          futures.add(fh);
        }
      }
      List<List<Future<ChunkId[]>>> chunkIds = new ArrayList<>();
      for (int i = 0; i < prepared.files().size(); i++) {
        SourceFile f = prepared.files().get(i);
        OpenWhileUsed src = byFile.get(i);
        List<Future<ChunkId[]>> ids = new ArrayList<>();
        AtomicInteger left = tasksLeft.get(i);
        long[] crcs = chunkCrcs.get(i);
        int first = 0;
        for (List<ChunkPlanner.Range> batch : batches.get(i)) {
          int from = first;
          first += batch.size();
          Future<ChunkId[]> id = pool.submit(() -> {
            ChunkId[] stored = src.use(ch -> {
              ChunkId[] out = new ChunkId[batch.size()];
              CRC32C crc = crcs != null ? new CRC32C() : null;
              for (int k = 0; k < out.length; k++) {
                out[k] = storeChunk(f, ch, batch.get(k), crc, lookup, sink, created, storedBytes, newChunks);
                if (crc != null) {
                  crcs[from + k] = crc.getValue();
                }
              }
              return out;
            });
            taskDone(left);
            return stored;
          });
          ids.add(id);
          futures.add(id);
        }
        chunkIds.add(ids);
      }
      List<FileEntry> entries = new ArrayList<>();
      for (int i = 0; i < prepared.files().size(); i++) {
        SourceFile f = prepared.files().get(i);
        List<ChunkPlanner.Range> plan = prepared.plans().get(f.path());
        List<ChunkRef> refs = new ArrayList<>(plan.size());
        for (Future<ChunkId[]> batch : chunkIds.get(i)) {
          for (ChunkId id : Futures.await(batch, "pushing " + f.path())) {
            refs.add(new ChunkRef(id, plan.get(refs.size()).length()));
          }
        }
        String sha = fileHashes.get(i) != null ? Futures.await(fileHashes.get(i), "hashing " + f.path())
            : refs.isEmpty() ? EMPTY_SHA256 : refs.get(0).id().hex();
        entries.add(f.layout() != null ? FileEntry.of(f.path(), sha, f.layout(), refs)
            : FileEntry.opaque(f.path(), f.size(), sha, refs));
      }
      // the bytes stored are the bytes hashed; now make sure they are also one state of each file
      for (SourceFile f : prepared.files()) {
        String changes = f.stamp().recheck(f.file());
        if (changes != null) {
          throw changed(f, changes);
        }
      }
      // and that each file's SHA-256 is that of its chunks: a change its stamp cannot show
      for (int i = 0; i < prepared.files().size(); i++) {
        SourceFile f = prepared.files().get(i);
        List<ChunkPlanner.Range> plan = prepared.plans().get(f.path());
        for (int k = 0; chunkCrcs.get(i) != null && k < plan.size(); k++) {
          if (chunkCrcs.get(i)[k] != hashedCrcs.get(i)[k]) {
            throw changed(f, "bytes " + plan.get(k).start() + " to " + plan.get(k).end()
                + " differed between its two reads, its chunks' and its whole-file hash's");
          }
        }
        // and that the tensor table recorded is the one of the bytes stored
        String relaid = ModelFiles.layoutChange(f);
        if (relaid != null) {
          throw changed(f, relaid);
        }
      }
      sink.flush();
      // packs holding small chunks this snapshot reuses from earlier versions
      Snapshot snapshot = new Snapshot(entries);
      java.util.Set<ChunkId> usedPacks = new java.util.TreeSet<>(packs);
      for (FileEntry e : entries) {
        for (ChunkRef c : e.chunks()) {
          if (c.length() < ObjectDatabase.PACK_THRESHOLD) {
            ChunkId pack = lookup.packOf(c.id());
            if (pack != null) {
              usedPacks.add(pack);
            }
          }
        }
      }
      ObjectDatabase.Written snap = db.writeObject(ObjectJson.toJson(snapshot));
      if (snap.created()) {
        created.add(snap.id());
        storedBytes.addAndGet(snap.size());
      }
      return new Staged(snap.id(), snapshot, new ArrayList<>(usedPacks), new ArrayList<>(created),
          storedBytes.get(), newChunks.get(), List.copyOf(written));
    } catch (IOException | RuntimeException | Error e) {
      // tasks not yet started see the flag and stop at once; running ones end before the rollback
      aborted = true;
      Futures.awaitEnd(futures, e);
      rollback(created, e);
      throw e;
    }
  }

  /** A batch of a file's chunks ends once it holds this many bytes ({@link #batches}). */
  static final long BATCH_BYTES = 8 << 20;
  /** Or this many chunks. */
  static final int BATCH_CHUNKS = 1024;

  /**
   * A file's chunks in runs of consecutive ones, each stored by one task: a chunk of {@value #BATCH_BYTES} bytes or
   * more alone, small ones together up to that many bytes or {@value #BATCH_CHUNKS} chunks. A task per chunk cost a
   * model of 490,000 small tensors as many queued tasks (about 60 MiB of heap before the first ran) and as many
   * opens of its file.
   */
  static List<List<ChunkPlanner.Range>> batches(List<ChunkPlanner.Range> plan) {
    List<List<ChunkPlanner.Range>> out = new ArrayList<>();
    int from = 0;
    long bytes = 0;
    for (int i = 0; i < plan.size(); i++) {
      bytes += plan.get(i).length();
      if (bytes >= BATCH_BYTES || i + 1 - from >= BATCH_CHUNKS || i == plan.size() - 1) {
        out.add(plan.subList(from, i + 1));
        from = i + 1;
        bytes = 0;
      }
    }
    return out;
  }

  /** A source file, opened only while a task reads it ({@link OpenWhileUsed}). */
  private static OpenWhileUsed openWhileRead(SourceFile file) {
    return new OpenWhileUsed(() -> {
      try {
        return FileChannel.open(file.file(), StandardOpenOption.READ);
      } catch (java.nio.file.NoSuchFileException e) {
        throw changed(file, "it was removed");
      }
    });
  }

  /** One more task of a file is done; the file is done with its last. */
  private void taskDone(AtomicInteger left) {
    if (left.decrementAndGet() == 0) {
      listener.fileDone();
    }
  }

  /** Removes objects a failed push created (through the repository's remover); never throws. */
  public void rollback(List<ChunkId> created, Throwable cause) {
    List<ChunkId> copy;
    synchronized (created) {
      copy = new ArrayList<>(created);
    }
    Collections.reverse(copy);
    remover.remove(copy, cause);
  }

  /**
   * Reads, hashes and stores a chunk; {@code crc}, if not null, is reset and takes the CRC32C of the bytes read.
   */
  private ChunkId storeChunk(SourceFile f, FileChannel ch, ChunkPlanner.Range r, CRC32C crc, Lookup known,
      PackSink sink, List<ChunkId> created, AtomicLong storedBytes, AtomicLong newChunks) throws IOException {
    if (aborted) {
      throw new InterruptedIOException("push aborted");
    }
    if (r.length() > ChunkPlanner.MAX_CHUNK) {
      throw new IOException(f.path() + ": chunk [" + r.start() + ", " + r.end() + ") is too big for one buffer");
    }
    ReadBuffers pool = floatCoded(r) ? arrayBuffers : buffers;
    Lent input = new Lent(pool, pool.take((int) r.length()));
    try {
      ByteBuffer raw = input.buffer;
      readFully(f, ch, raw, r.start());
      raw.flip();
      ChunkId id;
      if (crc == null) {
        id = ChunkId.of(raw);
      } else {
        crc.reset();
        MessageDigest md = ChunkId.sha256();
        hashSlices(raw, md, crc);
        id = ChunkId.fromBytes(md.digest());
      }
      return storeRead(id, raw, input, r, known, sink, created, storedBytes, newChunks);
    } finally {
      input.close();
    }
  }

  /**
   * A buffer taken from a pool (none: null), given back once: when its chunk is done, or earlier. Not thread-safe.
   */
  private static final class Lent implements AutoCloseable {
    private final ReadBuffers pool;
    private ByteBuffer buffer;

    Lent(ReadBuffers pool, ByteBuffer buffer) {
      this.pool = pool;
      this.buffer = buffer;
    }

    @Override
    public void close() {
      if (buffer != null) {
        pool.give(buffer);
        buffer = null;
      }
    }
  }

  /**
   * Stores a chunk read into {@code raw} (lent by {@code input}) and hashed to {@code id}: encodes and writes those
   * very bytes.
   */
  private ChunkId storeRead(ChunkId id, ByteBuffer raw, Lent input, ChunkPlanner.Range r, Lookup known,
      PackSink sink, List<ChunkId> created, AtomicLong storedBytes, AtomicLong newChunks) throws IOException {
    if (r.length() < ObjectDatabase.PACK_THRESHOLD) {
      if (!known.found(id, raw) && sink.add(id, raw, r)) {
        newChunks.incrementAndGet();
      }
    } else if (!db.store().contains(id)) {
      // bound the heap that encodes hold beside their input, together
      int taken = codec == CodecPolicy.NONE ? 0 : encodeBudget.acquire(encodeFootprint(r));
      try (PayloadArray payload = new PayloadArray()) {
        CodecPolicy.Encoded enc;
        try {
          enc = codec.encode(raw, r.hint(), db.codecs(), payload);
        } catch (UncheckedIOException e) {
          throw e.getCause(); // interrupted while waiting for a payload array
        }
        ByteBuffer header = Frame.header(id, enc.codec().id(), 0, r.length(), enc.payload());
        long size = header.remaining() + enc.payload().remaining();
        if (payload.holds(enc.payload()) && taken > 0) {
          // the payload is in push's own pool and the encode's other memory is garbage: the input buffer and the
          // encode budget go to the next chunk, which reads, hashes and encodes while this one is written and forced
          input.close();
          encodeBudget.release(taken);
          taken = 0;
        }
        if (db.store().put(id, header, enc.payload())) {
          created.add(id);
          storedBytes.addAndGet(size);
          newChunks.incrementAndGet();
        }
      } finally {
        if (taken > 0) {
          encodeBudget.release(taken);
        }
      }
    }
    listener.progress(r.length());
    return id;
  }

  /**
   * Lends the float codec one array of {@link #payloads} for a chunk's payload (a bigger one if it asks for more than
   * the array holds), until {@link #close}, after the chunk is in the store. Not thread-safe: one per encode.
   */
  private final class PayloadArray implements java.util.function.IntFunction<byte[]>, AutoCloseable {
    private Lent lent = new Lent(payloads, null);

    @Override
    public byte[] apply(int length) {
      if (lent.buffer == null || lent.buffer.capacity() < length) {
        lent.close();
        try {
          lent = new Lent(payloads, payloads.take(length));
        } catch (InterruptedIOException e) {
          throw new UncheckedIOException(e);
        }
      }
      return lent.buffer.array();
    }

    /** Whether {@code payload} is in the array this lent. */
    boolean holds(ByteBuffer payload) {
      return lent.buffer != null && payload.hasArray() && payload.array() == lent.buffer.array();
    }

    @Override
    public void close() {
      lent.close();
    }
  }

  /**
   * Buffers of one size, room for the push's biggest float-coded chunk, that chunks of every size share, two of them
   * when two fit in 40% of the heap ({@link ByteBudget#forTwo}: the third of the launcher's heap on two cores held one
   * 64 MiB chunk, and the push's second half ran on one core). Sized ones (a buffer per size class) were dropped and
   * made again whenever a bigger chunk came while the bound was reached: a push of a 1.94 GiB bf16 model of 21, 32
   * and 64 MiB chunks made about 640 MB of new input arrays, which the young collections then copied into the old
   * generation with every worker stopped (0.35-0.98 s of pauses a push).
   */
  private static ReadBuffers floatInputs(long biggest) {
    int uniform = (int) Math.max(1, Math.min(biggest, Integer.MAX_VALUE - 64));
    return new ReadBuffers(Math.max(ByteBudget.forTwo(uniform), 256 << 10), ByteBuffer::allocate, uniform);
  }

  /** The length of the biggest chunk of {@code prepared} that reads into {@link #arrayBuffers}, or 0. */
  private long biggestFloatChunk(Prepared prepared) {
    long biggest = 0;
    for (List<ChunkPlanner.Range> plan : prepared.plans().values()) {
      for (ChunkPlanner.Range r : plan) {
        if (floatCoded(r)) {
          biggest = Math.max(biggest, r.length());
        }
      }
    }
    return biggest;
  }

  /** Whether a chunk is read into {@link #arrayBuffers} (the float codec may encode it), else into direct buffers. */
  private boolean floatCoded(ChunkPlanner.Range r) {
    return codec != CodecPolicy.NONE && codec != CodecPolicy.ZSTD && FloatCodec.handles(r.hint());
  }

  /**
   * The heap an encode of the chunk holds beside its input: the float codec's two-byte path (bf16, f16) writes its
   * payload straight from the input into an array of {@link #payloads}, which bounds those apart, and falls back to
   * splitting the chunk into planes (the chunk's size) for data that path does not take; other encodes split planes
   * and copy, about three times the chunk. (The charge was the chunk's size and 64 bytes: two 64 MiB chunks never
   * fitted a budget of exactly two.)
   */
  private long encodeFootprint(ChunkPlanner.Range r) {
    boolean twoByteFloat = codec != CodecPolicy.ZSTD && FloatCodec.handles(r.hint())
        && FloatCodec.elementWidth(r.hint().dtype()) == 2;
    return twoByteFloat ? r.length() : 3L * r.length();
  }

  /**
   * Where a push finds small chunks that exist already: the packs of the model's versions first, then the store-wide
   * index. Remembers each chunk's pack, so the snapshot lists the very pack each lookup checked. Thread-safe.
   */
  private static final class Lookup {
    private final Locator known;
    private final IndexLookup index;
    private final Map<ChunkId, ChunkId> fromIndex = new java.util.concurrent.ConcurrentHashMap<>();

    Lookup(Locator known, IndexLookup index) {
      this.known = known;
      this.index = index;
    }

    /** Whether the chunk, whose bytes are {@code content}, is in a pack this push may reference. */
    boolean found(ChunkId id, ByteBuffer content) throws IOException {
      if (known.inPacks(id) || fromIndex.containsKey(id)) {
        return true;
      }
      Optional<PackIndex.Entry> e = index.locate(id, content);
      e.ifPresent(entry -> fromIndex.putIfAbsent(id, entry.pack()));
      return e.isPresent();
    }

    /** The pack that {@link #found} found the chunk in, or null. */
    ChunkId packOf(ChunkId id) {
      if (known.inPacks(id)) {
        return known.locate(id).object();
      }
      return fromIndex.get(id);
    }
  }

  /** Collects small chunks into packs, writing a pack whenever enough has gathered. Thread-safe. */
  private final class PackSink {
    private final List<ChunkId> created;
    private final AtomicLong storedBytes;
    private final List<ChunkId> packs;
    private final List<PackIndex> written;
    private PackWriter writer = new PackWriter();

    PackSink(List<ChunkId> created, AtomicLong storedBytes, List<ChunkId> packs, List<PackIndex> written) {
      this.created = created;
      this.storedBytes = storedBytes;
      this.packs = packs;
      this.written = written;
    }

    /** Adds a chunk; false if this push already packed it. */
    boolean add(ChunkId id, ByteBuffer raw, ChunkPlanner.Range r) throws IOException {
      CodecPolicy.Encoded enc = codec.encode(raw, r.hint(), db.codecs());
      ByteBuffer header = Frame.header(id, enc.codec().id(), 0, r.length(), enc.payload());
      PackWriter full = null;
      synchronized (this) {
        if (writer.contains(id)) {
          return false;
        }
        writer.add(id, header, enc.payload());
        if (writer.bytes() >= PACK_TARGET) {
          full = writer;
          writer = new PackWriter();
        }
      }
      if (full != null) {
        write(full);
      }
      return true;
    }

    void flush() throws IOException {
      PackWriter last;
      synchronized (this) {
        last = writer;
        writer = new PackWriter();
      }
      if (!last.isEmpty()) {
        write(last);
      }
    }

    private void write(PackWriter w) throws IOException {
      PackWriter.Finished f = w.finish();
      long size = f.bytes().remaining();
      if (db.store().put(f.id(), f.bytes())) {
        created.add(f.id());
        storedBytes.addAndGet(size);
      }
      packs.add(f.id());
      written.add(f.index());
    }
  }

  /**
   * The SHA-256 of a file of several chunks, read a window at a time; {@code crcs} takes the CRC32C of each chunk of
   * {@code plan} (which covers the file, in order) as this read saw it.
   */
  private String fileSha256(SourceFile f, FileChannel ch, List<ChunkPlanner.Range> plan, long[] crcs)
      throws IOException {
    MessageDigest md = ChunkId.sha256();
    CRC32C crc = new CRC32C();
    int chunk = 0;
    int window = (int) Math.min(4 << 20, Math.max(1, f.size()));
    ByteBuffer buf = buffers.take(window);
    try {
      for (long at = 0; at < f.size(); at += window) {
        if (aborted) {
          throw new InterruptedIOException("push aborted");
        }
        buf.clear().limit((int) Math.min(window, f.size() - at));
        readFully(f, ch, buf, at);
        buf.flip();
        // the window's bytes chunk by chunk: each chunk's CRC32C ends where the chunk does
        while (buf.hasRemaining()) {
          while (plan.get(chunk).end() <= at + buf.position()) {
            crcs[chunk++] = crc.getValue();
            crc.reset();
          }
          long end = Math.min(plan.get(chunk).end(), at + buf.limit());
          ByteBuffer part = buf.slice(buf.position(), (int) (end - at - buf.position()));
          hashSlices(part, md, crc);
          buf.position((int) (end - at));
        }
      }
      while (chunk < plan.size()) {
        crcs[chunk++] = crc.getValue();
        crc.reset();
      }
    } finally {
      buffers.give(buf);
    }
    return HexFormat.of().formatHex(md.digest());
  }

  /** A slice of bytes small enough to stay in the processor's cache between its SHA-256 and its CRC32C. */
  private static final int HASH_SLICE = 64 << 10;

  /**
   * Feeds the remaining bytes of {@code bytes} to both {@code md} and {@code crc}, a slice at a time, so that each
   * slice is read from memory once; the buffer's position is left unchanged.
   */
  private static void hashSlices(ByteBuffer bytes, MessageDigest md, CRC32C crc) {
    for (int at = bytes.position(); at < bytes.limit(); at += HASH_SLICE) {
      int n = Math.min(HASH_SLICE, bytes.limit() - at);
      md.update(bytes.slice(at, n));
      crc.update(bytes.slice(at, n));
    }
  }

  /** Fills {@code dst} from {@code at}; a file that ends first changed since the scan. */
  private static void readFully(SourceFile f, FileChannel ch, ByteBuffer dst, long at) throws IOException {
    long pos = at;
    int end = dst.limit();
    while (dst.hasRemaining()) {
      if (!dst.isDirect()) {
        // the JDK reads a heap buffer through a temporary direct one as big as the read: keep reads small
        dst.limit(Math.min(end, dst.position() + (1 << 20)));
      }
      int n = ch.read(dst, pos);
      dst.limit(end);
      if (n < 0) {
        throw changed(f, "it ends at byte " + pos + ", it had " + f.stamp().size() + " bytes when scanned");
      }
      pos += n;
    }
  }

  private static InvalidInputException changed(SourceFile f, String how) {
    return new InvalidInputException(f.file() + " changed while it was pushed (" + how + "); nothing was stored");
  }
}
