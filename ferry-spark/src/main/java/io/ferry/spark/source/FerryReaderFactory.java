package io.ferry.spark.source;

import io.ferry.derive.FloatBits;
import io.ferry.format.TensorInfo;
import io.ferry.format.torch.TorchMetadata;
import io.ferry.id.ChunkId;
import io.ferry.read.ModelReader;
import io.ferry.repo.Repository;
import io.ferry.spark.store.StoreCache;
import io.ferry.version.ChunkRef;
import io.ferry.version.Derivation;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.sql.catalyst.util.ArrayBasedMapData;
import org.apache.spark.sql.catalyst.util.ArrayData;
import org.apache.spark.sql.catalyst.util.GenericArrayData;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReader;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * Runs on executors: opens the plan's store (once per JVM, {@link StoreCache}) and produces the rows of one
 * {@link ReadPlan}. Chunk bytes go through core's verified read path ({@link ModelReader}: frame, length and CRC of
 * every chunk, and its SHA-256 with {@code verify=true}); a failed check fails the task with the chunk and store named,
 * and Spark retries it.
 */
final class FerryReaderFactory implements PartitionReaderFactory {
  private static final long serialVersionUID = 1L;

  private final String[] fields;
  private final boolean sha256;

  FerryReaderFactory(String[] fields, boolean sha256) {
    this.fields = fields.clone();
    this.sha256 = sha256;
  }

  @Override
  public PartitionReader<InternalRow> createReader(InputPartition partition) {
    ReadPlan plan = (ReadPlan) partition;
    Iterator<Object[]> rows = switch (plan.kind()) {
      case CHUNKS -> chunkRows(plan);
      case VERSIONS -> eager(plan, this::versionRows);
      case TENSORS -> eager(plan, this::tensorRows);
    };
    return new PartitionReader<>() {
      private InternalRow current;

      @Override
      public boolean next() {
        if (!rows.hasNext()) {
          return false;
        }
        current = new GenericInternalRow(rows.next());
        return true;
      }

      @Override
      public InternalRow get() {
        return current;
      }

      @Override
      public void close() {
        // the store stays open for the JVM's other tasks
      }
    };
  }

  private interface RowMaker {
    void make(ReadPlan plan, List<Object[]> out) throws IOException;
  }

  private static Iterator<Object[]> eager(ReadPlan plan, RowMaker maker) {
    List<Object[]> out = new ArrayList<>();
    try {
      maker.make(plan, out);
    } catch (IOException e) {
      throw new UncheckedIOException("ferry: reading " + plan.kind() + " of " + plan.versions().size()
          + " version(s) from " + plan.store() + " failed: " + e.getMessage(), e);
    }
    return out.iterator();
  }

  // ------------------------------------------------------------------ chunks

  private Iterator<Object[]> chunkRows(ReadPlan plan) {
    boolean needBytes = has("bytes") || has("values");
    String version = plan.versions().get(0);
    ModelReader reader;
    try {
      reader = needBytes ? StoreCache.reader(plan.store(), plan.model(), version, sha256) : null;
    } catch (IOException e) {
      throw new UncheckedIOException("ferry: opening version " + version + " of " + plan.model() + " in "
          + plan.store() + " failed: " + e.getMessage(), e);
    }
    Iterator<ChunkSlice> it = plan.slices().iterator();
    return new Iterator<>() {
      @Override
      public boolean hasNext() {
        return it.hasNext();
      }

      @Override
      public Object[] next() {
        ChunkSlice c = it.next();
        byte[] bytes = null;
        if (needBytes && c.length() == 0) {
          bytes = new byte[0];
        } else if (needBytes) {
          bytes = new byte[Math.toIntExact(c.length())];
          try {
            reader.readFile(c.file(), c.fileOffset(), ByteBuffer.wrap(bytes));
          } catch (IOException e) {
            throw new UncheckedIOException("ferry: reading tensor '" + c.tensor() + "' of " + plan.model() + "@"
                + version + "//" + c.file() + " (chunk " + c.chunk() + ") from " + plan.store() + " failed: "
                + e.getMessage(), e);
          }
        }
        Object[] row = new Object[fields.length];
        for (int i = 0; i < fields.length; i++) {
          row[i] = switch (fields[i]) {
            case "model" -> str(plan.model());
            case "version" -> str(version);
            case "file" -> str(c.file());
            case "tensor" -> str(c.tensor());
            case "dtype" -> str(c.dtype());
            case "shape" -> UnsafeArrayData.fromPrimitiveArray(c.shape());
            case "row_start" -> c.rowStart() < 0 ? null : c.rowStart();
            case "row_end" -> c.rowEnd() < 0 ? null : c.rowEnd();
            case "chunk" -> str(c.chunk());
            case "offset" -> c.tensorOffset();
            case "length" -> c.length();
            case "bytes" -> bytes;
            case "values" -> floats(c.dtype(), bytes);
            default -> throw new IllegalStateException("unknown column " + fields[i]);
          };
        }
        return row;
      }
    };
  }

  /** The elements as floats for F32, F16 and BF16 data; null for other dtypes. */
  static ArrayData floats(String dtype, byte[] bytes) {
    ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    float[] out;
    switch (dtype) {
      case "F32" -> {
        out = new float[bytes.length / 4];
        b.asFloatBuffer().get(out);
      }
      case "F16" -> {
        out = new float[bytes.length / 2];
        for (int i = 0; i < out.length; i++) {
          out[i] = FloatBits.halfToFloat(b.getShort(2 * i));
        }
      }
      case "BF16" -> {
        out = new float[bytes.length / 2];
        for (int i = 0; i < out.length; i++) {
          out[i] = FloatBits.bf16ToFloat(b.getShort(2 * i));
        }
      }
      default -> {
        return null;
      }
    }
    return UnsafeArrayData.fromPrimitiveArray(out);
  }

  // ------------------------------------------------------------------ versions

  private void versionRows(ReadPlan plan, List<Object[]> out) throws IOException {
    Repository repo = StoreCache.repository(plan.store());
    for (String hex : plan.versions()) {
      Version v = repo.objects().version(ChunkId.parse(hex));
      Derivation d = v.derivation();
      Object[] row = new Object[fields.length];
      for (int i = 0; i < fields.length; i++) {
        row[i] = switch (fields[i]) {
          case "id" -> str(hex);
          case "model" -> str(v.model());
          case "seq" -> v.seq();
          case "parents" -> strings(v.parents().stream().map(ChunkId::hex).toList());
          case "tags" -> strings(plan.tags().getOrDefault(hex, List.of()));
          case "time" -> v.time().getEpochSecond() * 1_000_000L + v.time().getNano() / 1000;
          case "author" -> str(v.author());
          case "message" -> str(v.message());
          case "snapshot" -> str(v.snapshot().hex());
          case "logical_bytes" -> v.stats().logicalBytes();
          case "new_stored_bytes" -> v.stats().newStoredBytes();
          case "files" -> v.stats().files();
          case "tensors" -> v.stats().tensors();
          case "derivation_method" -> d == null ? null : str(d.method());
          case "derivation_source" -> d == null ? null : str(d.source());
          case "derivation_parameters" -> d == null ? null : stringMap(d.parameters());
          case "derivation_metrics" -> d == null ? null : doubleMap(d.metrics());
          default -> throw new IllegalStateException("unknown column " + fields[i]);
        };
      }
      out.add(row);
    }
  }

  // ------------------------------------------------------------------ tensors

  private void tensorRows(ReadPlan plan, List<Object[]> out) throws IOException {
    Repository repo = StoreCache.repository(plan.store());
    for (String hex : plan.versions()) {
      Version v = repo.objects().version(ChunkId.parse(hex));
      Snapshot s = repo.objects().snapshot(v.snapshot());
      for (FileEntry f : s.files()) {
        if (f.tensors().isEmpty()) {
          continue;
        }
        long[] offsets = f.chunkOffsets();
        for (TensorInfo t : f.tensors()) {
          Map<String, String> known = Map.of("model", v.model(), "version", hex, "file", f.path(), "tensor",
              t.name(), "dtype", t.dtype().name());
          if (!PlanFilter.mayPass(plan.filters(), known)) {
            continue;
          }
          long from = f.dataStart() + t.begin();
          long to = from + t.byteLength();
          List<String> chunks = new ArrayList<>();
          MessageDigest key = sha256();
          // an empty tensor uses no chunk: its key is its dtype and shape alone, not the chunk of a neighbour
          for (int i = FileEntry.chunkAt(offsets, from); i < f.chunks().size() && offsets[i] < to; i++) {
            ChunkRef c = f.chunks().get(i);
            chunks.add(c.id().hex());
            long lo = Math.max(from, offsets[i]) - offsets[i];
            long hi = Math.min(to, offsets[i] + c.length()) - offsets[i];
            key.update((c.id().hex() + ":" + lo + "-" + hi + ";").getBytes(StandardCharsets.US_ASCII));
          }
          key.update((t.dtype().name() + t.shape()).getBytes(StandardCharsets.US_ASCII));
          // a view of a PyTorch storage that is not a row-major run of it is its bytes read with its strides: a
          // transposed [4, 3] matrix has the bytes, dtype and shape of a [3, 4] one, not its elements
          String strides = t.byteLength() == 0 ? null : TorchMetadata.strides(f.format(), f.metadata(), t.name());
          if (TorchMetadata.UNRECORDED.equals(strides)) {
            // strides not recorded: equal to no other tensor
            strides += ";" + hex + "//" + f.path() + ";" + t.name();
          }
          if (strides != null) {
            key.update((";strides" + strides).getBytes(StandardCharsets.UTF_8));
          }
          Object[] row = new Object[fields.length];
          for (int i = 0; i < fields.length; i++) {
            row[i] = switch (fields[i]) {
              case "model" -> str(v.model());
              case "version" -> str(hex);
              case "file" -> str(f.path());
              case "tensor" -> str(t.name());
              case "dtype" -> str(t.dtype().name());
              case "shape" -> UnsafeArrayData.fromPrimitiveArray(t.shape().stream().mapToLong(Long::longValue)
                  .toArray());
              case "length" -> f.tensorBytes(t);
              case "chunks" -> strings(chunks);
              case "content" -> str(HexFormat.of().formatHex(key.digest()));
              default -> throw new IllegalStateException("unknown column " + fields[i]);
            };
          }
          out.add(row);
        }
      }
    }
  }

  // ------------------------------------------------------------------ values

  private boolean has(String field) {
    for (String f : fields) {
      if (f.equals(field)) {
        return true;
      }
    }
    return false;
  }

  private static UTF8String str(String s) {
    return UTF8String.fromString(s);
  }

  private static ArrayData strings(List<String> values) {
    Object[] a = new Object[values.size()];
    for (int i = 0; i < a.length; i++) {
      a[i] = str(values.get(i));
    }
    return new GenericArrayData(a);
  }

  private static ArrayBasedMapData stringMap(Map<String, String> m) {
    List<String> keys = new ArrayList<>(new java.util.TreeSet<>(m.keySet()));
    return new ArrayBasedMapData(strings(keys), strings(keys.stream().map(m::get).toList()));
  }

  private static ArrayBasedMapData doubleMap(Map<String, Double> m) {
    List<String> keys = new ArrayList<>(new java.util.TreeSet<>(m.keySet()));
    double[] vals = new double[keys.size()];
    for (int i = 0; i < vals.length; i++) {
      vals[i] = m.get(keys.get(i));
    }
    return new ArrayBasedMapData(strings(keys), UnsafeArrayData.fromPrimitiveArray(vals));
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }
}
