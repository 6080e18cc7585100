package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.codec.CodecPolicy;
import io.ferry.store.StoreOptions;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pins the snapshot ids and chunk counts of a few generated models (DESIGN invariant 10: the same bytes give the same
 * chunks and the same snapshot id, in every Ferry version, so existing stores keep deduplicating against new pushes).
 *
 * <p>The expected values were obtained by running this very test on the code before the tensor-format SPI existed
 * (safetensors wired directly into the push path, commit 4aaf1cc) and copying the values it reported. If one of them
 * changes, the storage format changed: that is a bug, not a test to update.
 *
 * <p>The models are generated from a fixed xorshift sequence, so they are the same bytes on every machine.
 */
class SnapshotIdPinTest {
  @TempDir Path tmp;

  /** Every dtype, a scalar, empty tensors, metadata, a tensor split by rows and one split in fixed pieces. */
  private static final String DTYPES_SNAPSHOT = "4807d8a2ec5f751e2002bb78a4d92210f63fd10b1658264eb3944e76e9cf8646";
  private static final int DTYPES_CHUNKS = 30;
  /** A Hugging Face directory: an index, two shards (one nested), config and tokenizer files. */
  private static final String HF_SNAPSHOT = "c0712ab951355997ef6cc09043c39aa3caeb98167d806d4eb3bf7c711d7ea3a3";
  private static final int HF_CHUNKS = 11;
  /** An opaque file (content-defined chunks), plus safetensors bytes under another extension (opaque too). */
  private static final String OPAQUE_SNAPSHOT = "169fc7ccb2973f2d1300d2eaf13c8cb5c2a9d571639319a0b2e16d7cab51fd07";
  private static final int OPAQUE_CHUNKS = 13;

  @Test
  void sameBytesGiveTheSnapshotIdsOfBefore() throws IOException {
    Path dtypes = Files.createDirectories(tmp.resolve("dtypes"));
    writeDtypesModel(dtypes);
    Path hf = Files.createDirectories(tmp.resolve("hf"));
    writeHfModel(hf);
    Path opaque = Files.createDirectories(tmp.resolve("opaque"));
    writeOpaqueModel(opaque);

    SoftAssertions soft = new SoftAssertions();
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      check(soft, repo, dtypes, "dtypes", DTYPES_SNAPSHOT, DTYPES_CHUNKS);
      check(soft, repo, hf, "hf", HF_SNAPSHOT, HF_CHUNKS);
      check(soft, repo, opaque, "opaque", OPAQUE_SNAPSHOT, OPAQUE_CHUNKS);
    }
    soft.assertAll();
  }

  private static void check(SoftAssertions soft, Repository repo, Path source, String model, String snapshot,
      int chunks) throws IOException {
    Results.PushResult r = repo.push(source, model, PushOptions.builder().codec(CodecPolicy.NONE).build());
    Snapshot s = repo.snapshot(repo.resolve(model));
    int n = 0;
    StringBuilder files = new StringBuilder();
    for (FileEntry f : s.files()) {
      n += f.chunks().size();
      files.append(' ').append(f.path()).append('=').append(f.format()).append('/').append(f.chunks().size());
    }
    soft.assertThat(r.version().snapshot().hex()).as("snapshot id of " + model + ":" + files).isEqualTo(snapshot);
    soft.assertThat(n).as("chunks of " + model + ":" + files).isEqualTo(chunks);
  }

  // ------------------------------------------------------------------ generated models

  private record T(String name, String dtype, long[] shape, long bytes) {}

  private static void writeDtypesModel(Path dir) throws IOException {
    List<T> ts = new ArrayList<>();
    ts.add(new T("bool", "BOOL", new long[] {3, 5}, 15));
    ts.add(new T("u8", "U8", new long[] {7}, 7));
    ts.add(new T("i8", "I8", new long[] {2, 3}, 6));
    ts.add(new T("u16", "U16", new long[] {5}, 10));
    ts.add(new T("i16", "I16", new long[] {4, 2}, 16));
    ts.add(new T("f16", "F16", new long[] {64, 33}, 64 * 33 * 2));
    ts.add(new T("bf16", "BF16", new long[] {128, 512}, 128 * 512 * 2));
    ts.add(new T("u32", "U32", new long[] {9}, 36));
    ts.add(new T("i32", "I32", new long[] {3, 3}, 36));
    ts.add(new T("f32", "F32", new long[] {300, 1000}, 300 * 1000 * 4));
    ts.add(new T("u64", "U64", new long[] {2}, 16));
    ts.add(new T("i64", "I64", new long[] {1, 1, 3}, 24));
    ts.add(new T("f64", "F64", new long[] {17}, 136));
    ts.add(new T("c64", "C64", new long[] {6}, 48));
    ts.add(new T("e4m3", "F8_E4M3", new long[] {1000}, 1000));
    ts.add(new T("e5m2", "F8_E5M2", new long[] {10, 10}, 100));
    ts.add(new T("e8m0", "F8_E8M0", new long[] {4}, 4));
    ts.add(new T("e4m3fnuz", "F8_E4M3FNUZ", new long[] {3}, 3));
    ts.add(new T("e5m2fnuz", "F8_E5M2FNUZ", new long[] {5}, 5));
    ts.add(new T("f4", "F4", new long[] {6, 2}, 6));
    ts.add(new T("f6a", "F6_E2M3", new long[] {8}, 6));
    ts.add(new T("f6b", "F6_E3M2", new long[] {2, 4}, 6));
    ts.add(new T("scalar", "F32", new long[] {}, 4));
    ts.add(new T("empty", "F32", new long[] {0, 7}, 0));
    ts.add(new T("empty_too", "BF16", new long[] {0}, 0));
    writeSafetensors(dir.resolve("model.safetensors"), ts, Map.of("format", "pt", "note", "pinned ü"), 1);
    // 4200 rows of 16 KiB: cut into whole rows of at most 64 MiB
    // 1-D bytes over 64 MiB: rows of one byte, cut into 64 MiB pieces
    List<T> big = List.of(new T("rows", "F32", new long[] {4200, 4096}, 4200L * 4096 * 4),
        new T("flat", "U8", new long[] {(64L << 20) + 12345}, (64L << 20) + 12345),
        new T("tail", "BF16", new long[] {3, 3}, 18));
    writeSafetensors(dir.resolve("big.safetensors"), big, Map.of(), 2);
  }

  private static void writeHfModel(Path dir) throws IOException {
    writeSafetensors(dir.resolve("model-00001-of-00002.safetensors"), List.of(
        new T("embed.weight", "BF16", new long[] {1000, 64}, 128_000),
        new T("layers.0.w", "F16", new long[] {64, 64}, 8192)), Map.of("format", "pt"), 3);
    Files.createDirectories(dir.resolve("sub"));
    writeSafetensors(dir.resolve("model-00002-of-00002.safetensors"), List.of(
        new T("layers.1.w", "F16", new long[] {64, 64}, 8192),
        new T("lm_head.weight", "BF16", new long[] {1000, 64}, 128_000)), Map.of("format", "pt"), 4);
    Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"metadata\":{\"total_size\":272384},"
        + "\"weight_map\":{\"embed.weight\":\"model-00001-of-00002.safetensors\","
        + "\"layers.0.w\":\"model-00001-of-00002.safetensors\",\"layers.1.w\":\"model-00002-of-00002.safetensors\","
        + "\"lm_head.weight\":\"model-00002-of-00002.safetensors\",\"x\":\"sub/extra.safetensors\"}}");
    Files.writeString(dir.resolve("config.json"), "{\"architectures\":[\"Pinned\"],\"hidden_size\":64}\n");
    Files.writeString(dir.resolve("sub/tokenizer.json"), "{\"version\":\"1.0\",\"vocab\":{\"a\":0,\"b\":1}}\n");
    writeSafetensors(dir.resolve("sub/extra.safetensors"), List.of(new T("x", "U8", new long[] {3}, 3)), Map.of(),
        5);
  }

  private static void writeOpaqueModel(Path dir) throws IOException {
    // 12 MiB of pseudo-random bytes with a repeated stretch, so content-defined cuts fall in a few places
    Xorshift r = new Xorshift(6);
    try (FileChannel ch = FileChannel.open(dir.resolve("weights.bin"), StandardOpenOption.CREATE_NEW,
        StandardOpenOption.WRITE)) {
      ByteBuffer block = ByteBuffer.allocate(1 << 20);
      for (int i = 0; i < 12; i++) {
        if (i != 7) {
          block.clear();
          r.fill(block);
        }
        block.flip();
        while (block.hasRemaining()) {
          ch.write(block);
        }
      }
    }
    // valid safetensors bytes under a name no format claims: stored as an opaque file
    writeSafetensors(dir.resolve("weights.st.bin"), List.of(new T("w", "F32", new long[] {256, 256}, 262_144)),
        Map.of(), 7);
    Files.write(dir.resolve("empty.dat"), new byte[0]);
  }

  /** A safetensors file: tensors in the given order, header padded with spaces to 8 bytes, data from a seed. */
  private static void writeSafetensors(Path file, List<T> tensors, Map<String, String> metadata, long seed)
      throws IOException {
    StringBuilder h = new StringBuilder("{");
    if (!metadata.isEmpty()) {
      h.append("\"__metadata__\":{");
      String sep = "";
      for (Map.Entry<String, String> e : new LinkedHashMap<>(new java.util.TreeMap<>(metadata)).entrySet()) {
        h.append(sep).append('"').append(e.getKey()).append("\":\"").append(e.getValue()).append('"');
        sep = ",";
      }
      h.append("},");
    }
    long at = 0;
    String sep = "";
    for (T t : tensors) {
      StringBuilder shape = new StringBuilder("[");
      for (int i = 0; i < t.shape().length; i++) {
        shape.append(i == 0 ? "" : ",").append(t.shape()[i]);
      }
      shape.append(']');
      h.append(sep).append('"').append(t.name()).append("\":{\"dtype\":\"").append(t.dtype()).append("\",\"shape\":")
          .append(shape).append(",\"data_offsets\":[").append(at).append(',').append(at + t.bytes()).append("]}");
      at += t.bytes();
      sep = ",";
    }
    h.append('}');
    byte[] json = h.toString().getBytes(StandardCharsets.UTF_8);
    int pad = (8 - json.length % 8) % 8;
    Xorshift r = new Xorshift(seed);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ByteBuffer head = ByteBuffer.allocate(8 + json.length + pad).order(ByteOrder.LITTLE_ENDIAN);
      head.putLong(json.length + pad).put(json);
      while (head.hasRemaining()) {
        head.put((byte) ' ');
      }
      head.flip();
      while (head.hasRemaining()) {
        ch.write(head);
      }
      ByteBuffer block = ByteBuffer.allocate(1 << 20);
      for (long left = at; left > 0; ) {
        block.clear().limit((int) Math.min(block.capacity(), left));
        r.fill(block);
        block.flip();
        left -= block.remaining();
        while (block.hasRemaining()) {
          ch.write(block);
        }
      }
    }
  }

  /** Marsaglia's xorshift64: a fixed sequence for a seed, on every JVM. */
  private static final class Xorshift {
    private long s;

    Xorshift(long seed) {
      this.s = seed * 0x9E3779B97F4A7C15L + 1;
    }

    void fill(ByteBuffer b) {
      while (b.hasRemaining()) {
        s ^= s << 13;
        s ^= s >>> 7;
        s ^= s << 17;
        long v = s;
        for (int i = 0; i < 8 && b.hasRemaining(); i++) {
          b.put((byte) v);
          v >>>= 8;
        }
      }
    }
  }
}
