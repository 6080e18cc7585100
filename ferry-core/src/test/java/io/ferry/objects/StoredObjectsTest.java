package io.ferry.objects;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.chunk.V1Frames;
import io.ferry.codec.Codecs;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import io.ferry.id.ChunkId;
import io.ferry.limits.Limits;
import io.ferry.pack.PackWriter;
import io.ferry.read.ChunkReader.Check;
import io.ferry.read.Locator;
import io.ferry.store.ChunkStore;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import io.ferry.transfer.Copier;
import io.ferry.transfer.TransferListener;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.ObjectJson;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import io.ferry.version.VersionStats;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Stores written by older writers still read, verify and copy; big snapshots round-trip within the limits. */
class StoredObjectsTest {
  @TempDir Path tmp;

  private final Codecs codecs = Codecs.standard();

  private static byte[] random(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  private static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  /** A version whose every object is a version 1 frame, as stores written before frame version 2 hold. */
  private ChunkId writeVersion1Store(ChunkStore store, byte[] big, byte[] small) throws IOException {
    store.put(ChunkId.of(big), V1Frames.frame(codecs.none(), big));
    PackWriter w = new PackWriter();
    w.add(ChunkId.of(small), V1Frames.frame(codecs.zstd(), small));
    PackWriter.Finished pack = w.finish();
    store.put(pack.id(), pack.bytes());
    ByteBuffer all = ByteBuffer.allocate(big.length + small.length).put(big).put(small).flip();
    FileEntry f = FileEntry.opaque("data.bin", big.length + small.length, ChunkId.of(all).hex(),
        List.of(new ChunkRef(ChunkId.of(big), big.length), new ChunkRef(ChunkId.of(small), small.length)));
    byte[] snapshot = ObjectJson.toJson(new Snapshot(List.of(f)));
    store.put(ChunkId.of(snapshot), V1Frames.frame(codecs.zstd(), snapshot));
    Version v = new Version(ChunkId.of(snapshot), List.of(), "m", "written by frame version 1", "alice",
        Instant.parse("2026-11-23T09:17:16Z"), 1, 0, List.of(pack.id()),
        new VersionStats(all.remaining(), 0, 2, 1, 0), Map.of(), null);
    byte[] version = ObjectJson.toJson(v);
    store.put(ChunkId.of(version), V1Frames.frame(codecs.none(), version));
    return ChunkId.of(version);
  }

  /** Reads every chunk of a version through the database, checking content, and returns the file's bytes. */
  private static byte[] readAll(ObjectDatabase db, ChunkId versionId) throws IOException {
    Version v = db.version(versionId);
    FileEntry f = db.snapshot(v.snapshot()).files().get(0);
    Locator locator = db.locator(v.packs());
    ByteBuffer out = ByteBuffer.allocate((int) f.size());
    for (ChunkRef c : f.chunks()) {
      db.reader().readInto(locator.locate(c.id()), c.length(), Check.CONTENT, out);
      db.reader().verify(locator.locate(c.id()), c.length());
    }
    return bytes(out.flip());
  }

  /**
   * Copy ships frames as stored: a pack's id is the hash of its bytes, so its version 1 frames cannot be rewritten
   * without changing the version; loose objects are left as stored too, so the target holds the source's bytes.
   */
  @Test
  void version1StoreReadsVerifiesAndCopiesAsStored() throws IOException {
    byte[] big = random(300_000, 1);
    byte[] small = random(10_000, 2);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try (LocalBackend src = LocalBackend.open(tmp.resolve("src"), StoreOptions.createIfMissing());
        LocalBackend dst = LocalBackend.open(tmp.resolve("dst"), StoreOptions.createIfMissing())) {
      ChunkId versionId = writeVersion1Store(src.chunks(), big, small);
      ObjectDatabase source = new ObjectDatabase(src.chunks(), codecs);
      byte[] expected = ByteBuffer.allocate(big.length + small.length).put(big).put(small).array();
      assertThat(readAll(source, versionId)).isEqualTo(expected);

      for (boolean verify : new boolean[] {false, true}) {
        Copier copier = new Copier(source, dst.chunks(), pool, verify, TransferListener.NONE);
        copier.copy(versionId);
      }
      Version v = source.version(versionId);
      for (ChunkId id : List.of(versionId, v.snapshot(), v.packs().get(0), ChunkId.of(big))) {
        assertThat(bytes(dst.chunks().get(id))).as("copy of %s", id).isEqualTo(bytes(src.chunks().get(id)));
      }
      assertThat(readAll(new ObjectDatabase(dst.chunks(), codecs), versionId)).isEqualTo(expected);
    } finally {
      pool.shutdownNow();
    }
  }

  /**
   * A version an older writer stored with a metadata key of 60,000 characters (over Jackson's default limit of
   * 50,000, which made every command fail) reads again.
   */
  @Test
  void versionAnOlderWriterFilledPastTheLimitsReads() throws IOException {
    try (LocalBackend b = LocalBackend.open(tmp.resolve("s"), StoreOptions.createIfMissing())) {
      ObjectDatabase db = new ObjectDatabase(b.chunks(), codecs);
      FileEntry f = new FileEntry("a.safetensors", 8, "0".repeat(64), "safetensors", 8,
          Map.of("m".repeat(60_000), "v".repeat(21_000_000)), List.of(),
          List.of(new ChunkRef(ChunkId.of(new byte[8]), 8)));
      ChunkId snapshot = db.writeObject(ObjectJson.toJson(new Snapshot(List.of(f)))).id();
      Version v = new Version(snapshot, List.of(), "m", "x".repeat(200_000), "alice", Instant.EPOCH, 1, 0, List.of(),
          new VersionStats(8, 8, 1, 1, 0), Map.of("k".repeat(60_000), "v"), null);
      ChunkId version = db.writeObject(ObjectJson.toJson(v)).id();
      ObjectDatabase fresh = new ObjectDatabase(b.chunks(), codecs);
      assertThat(fresh.version(version)).isEqualTo(v);
      assertThat(fresh.snapshot(snapshot).files().get(0).metadata()).isEqualTo(f.metadata());
    }
  }

  /** A snapshot of 80,000 tensors (many small experts) stays far below the snapshot limit and round-trips. */
  @Test
  void snapshotOf80000TensorsRoundTrips() throws IOException {
    List<FileEntry> files = new ArrayList<>();
    Random r = new Random(3);
    int perFile = 10_000;
    for (int file = 0; file < 8; file++) {
      List<TensorInfo> tensors = new ArrayList<>();
      List<ChunkRef> chunks = new ArrayList<>();
      long header = 1_000_000;
      chunks.add(new ChunkRef(ChunkId.of(random(32, r.nextLong())), header));
      long at = 0;
      for (int t = 0; t < perFile; t++) {
        long n = 64 * 128 * 2;
        tensors.add(new TensorInfo("model.layers." + file + ".mlp.experts." + t + ".down_proj.weight", DType.BF16,
            List.of(64L, 128L), at, at + n));
        chunks.add(new ChunkRef(ChunkId.of(random(32, r.nextLong())), n));
        at += n;
      }
      files.add(new FileEntry(String.format("model-%05d-of-00008.safetensors", file + 1), header + at,
          "0".repeat(64), "safetensors", header, Map.of("format", "pt"), tensors, chunks));
    }
    Snapshot s = new Snapshot(files);
    assertThat(s.tensorCount()).isEqualTo(80_000);
    byte[] json = ObjectJson.toJson(s);
    // measured: about 15 MB, an eighth of the limit
    assertThat(json.length).isBetween(10 << 20, Limits.MAX_SNAPSHOT_JSON_BYTES / 8);
    try (LocalBackend b = LocalBackend.open(tmp.resolve("s"), StoreOptions.createIfMissing())) {
      ChunkId id = new ObjectDatabase(b.chunks(), codecs).writeObject(json).id();
      assertThat(new ObjectDatabase(b.chunks(), codecs).snapshot(id)).isEqualTo(s);
    }
  }
}
