package io.ferry.export;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import io.ferry.limits.Limits;
import io.ferry.format.safetensors.SafetensorsWriter;
import io.ferry.format.torch.ByteSource;
import io.ferry.format.torch.TorchCheckpoint;
import io.ferry.format.torch.TorchFormat;
import io.ferry.format.torch.Unpickler;
import io.ferry.read.ModelReader;
import io.ferry.store.FileWrites;
import io.ferry.transfer.PullOptions;
import io.ferry.version.FileEntry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Writes a version with its PyTorch checkpoints as safetensors: each {@code torch} file {@code dir/x.pt} becomes
 * {@code dir/x.safetensors} ({@code pytorch_model*.bin} becomes {@code model*.safetensors}, as transformers looks for
 * it, and a {@code pytorch_model.bin.index.json} becomes {@code model.safetensors.index.json} naming the new shards)
 * holding every tensor of the checkpoint under its dotted name (views made contiguous, tensors that share a storage
 * each written in full, as safetensors has no aliasing), with the non-tensor values as JSON strings in
 * {@code __metadata__} (plus {@code format = pt}, as transformers expects); every other file is written as it is.
 * A checkpoint with a tensor of a type safetensors lacks (complex128) is refused, naming the tensor. Every byte is
 * read through the verified chunk path of a {@link ModelReader}.
 *
 * <p>Files are written under temporary names in their directory and renamed when complete; a failure removes them.
 * No path component under DEST may be a symbolic link. Stateless.
 */
public final class SafetensorsExport {
  /** How a PyTorch shard index's name ends ({@code pytorch_model.bin.index.json}). */
  private static final String BIN_INDEX = ".bin.index.json";
  /** Largest span of a non-contiguous view gathered in memory. */
  private static final long MAX_VIEW_SPAN = 1L << 30;
  /** Bytes of a gathered view written at a time. */
  private static final int GATHER_BLOCK = 4 << 20;

  private SafetensorsExport() {}

  /**
   * Writes the version {@code reader} reads into {@code dest}.
   *
   * @throws InvalidInputException if a converted name clashes with a file of the version, a path is unsafe, a
   *     view is too large to gather, or a tensor's type is not a safetensors dtype
   */
  public static Export.Result write(ModelReader reader, Path dest) throws IOException {
    return write(reader, dest, false);
  }

  /**
   * Writes the version {@code reader} reads into {@code dest}; with {@code fsync}, forces every file to disk before
   * it gets its final name.
   *
   * @throws InvalidInputException if a converted name clashes with a file of the version, a path is unsafe, a
   *     view is too large to gather, or a tensor's type is not a safetensors dtype
   */
  public static Export.Result write(ModelReader reader, Path dest, boolean fsync) throws IOException {
    return write(reader, dest, fsync, PullOptions.Existing.REFUSE);
  }

  /**
   * Writes the version {@code reader} reads into {@code dest}, other files in it handled as {@code existing} says
   * ({@link Export#write(ModelReader, Path, boolean, Export.As, PullOptions.Existing)}).
   */
  public static Export.Result write(ModelReader reader, Path dest, boolean fsync, PullOptions.Existing existing)
      throws IOException {
    Map<String, String> names = names(reader.snapshot().files());
    return Export.write(reader, dest, fsync, "safetensors", f -> names.get(f.path()),
        (r, f, out) -> f.format().equals(TorchFormat.NAME) ? convert(r, f, out) : rewriteIndex(r, f, out, names),
        existing);
  }

  /**
   * The new name of each file converted: every torch file ({@link #safetensorsName}) and every PyTorch shard index
   * ({@code *.bin.index.json}) whose shards are torch files, under the name of its converted shards' index.
   */
  static Map<String, String> names(List<FileEntry> files) {
    Set<String> taken = new HashSet<>();
    files.forEach(f -> taken.add(f.path()));
    Map<String, String> names = new TreeMap<>();
    for (FileEntry f : files) {
      if (f.format().equals(TorchFormat.NAME)) {
        names.put(f.path(), safetensorsName(f.path(), taken));
      }
    }
    Set<String> converted = Set.copyOf(names.keySet());
    for (FileEntry f : files) {
      String p = f.path();
      if (p.endsWith(BIN_INDEX) && !converted.contains(p)) {
        String shards = p.substring(0, p.length() - ".index.json".length());
        String stem = shards.substring(0, shards.length() - ".bin".length());
        // only the index of shards that are converted (shards kept as bytes, --opaque, stay .bin with their index)
        boolean ofConverted = converted.stream()
            .anyMatch(t -> t.endsWith(".bin") && (t.equals(shards) || t.startsWith(stem + "-")));
        String renamed = safetensorsName(shards, taken) + ".index.json";
        if (ofConverted && !taken.contains(renamed)) {
          names.put(p, renamed);
        }
      }
    }
    return names;
  }

  /**
   * {@code dir/x.pt} → {@code dir/x.safetensors} (a name without an extension gets one), and in Hugging Face's
   * convention, so that transformers finds the weights: {@code pytorch_model.bin} → {@code model.safetensors},
   * {@code pytorch_model-00001-of-00002.bin} → {@code model-00001-of-00002.safetensors}; when the version already
   * holds a file of that name (a model published in both formats), the plain {@code pytorch_model.safetensors}.
   */
  static String safetensorsName(String path, Set<String> taken) {
    int slash = path.lastIndexOf('/');
    int dot = path.lastIndexOf('.');
    String stem = dot > slash + 1 ? path.substring(0, dot) : path;
    String name = stem.substring(slash + 1);
    if (name.equals("pytorch_model") || name.startsWith("pytorch_model-")) {
      String hf = stem.substring(0, slash + 1) + name.substring("pytorch_".length()) + ".safetensors";
      if (!taken.contains(hf)) {
        return hf;
      }
    }
    return stem + ".safetensors";
  }

  /** The shard index with every {@code weight_map} value that names a converted file renamed as that file is. */
  private static long rewriteIndex(ModelReader reader, FileEntry f, FileChannel out, Map<String, String> names)
      throws IOException {
    String dir = f.path().substring(0, f.path().lastIndexOf('/') + 1);
    return WeightMaps.rename(reader, f, out, "safetensors", file -> {
      String renamed = names.get(dir + file);
      return renamed == null ? null : renamed.substring(dir.length());
    });
  }

  /** Writes one checkpoint as safetensors into {@code out}; returns its tensor count. */
  static long convert(ModelReader reader, FileEntry f, FileChannel out) throws IOException {
    TorchCheckpoint ck = TorchCheckpoint.read(source(reader, f));
    List<TorchCheckpoint.View> views = new ArrayList<>(ck.tensors());
    views.sort(Comparator.comparing(TorchCheckpoint.View::name));
    List<TensorInfo> table = new ArrayList<>();
    long at = 0;
    for (TorchCheckpoint.View v : views) {
      if (!v.dtype().isSafetensors()) {
        // complex128: torch holds it, safetensors has no dtype for it (its only complex type is C64)
        throw new InvalidInputException(f.path() + ": tensor '" + v.name() + "' is " + v.dtype() + " ("
            + torchName(v.dtype()) + "), which safetensors has no dtype for (it has C64, complex64); the checkpoint"
            + " cannot be written as safetensors: pull it as it is");
      }
      long len;
      try {
        len = v.dtype().byteLength(v.tensor().elements());
        Math.addExact(at, len);
      } catch (ArithmeticException e) {
        throw new InvalidInputException(f.path() + ": tensor '" + v.name() + "' of shape " + v.tensor().shape()
            + " (" + v.tensor().elements() + " elements of " + v.dtype() + ") does not fit in a safetensors file"
            + " after " + at + " bytes of tensors before it: more than 2^63 bytes");
      }
      table.add(new TensorInfo(v.name(), v.dtype(), v.tensor().shape(), at, at + len));
      at += len;
    }
    Map<String, String> metadata = new TreeMap<>(ck.values());
    // safetensors keeps its metadata under a reserved name, and readers (transformers) need format = pt in it
    for (TorchCheckpoint.View v : views) {
      if (v.name().equals("__metadata__")) {
        throw new InvalidInputException(f.path() + ": tensor '__metadata__' has the name safetensors reserves for "
            + "its metadata; the checkpoint cannot be written as safetensors");
      }
    }
    if (metadata.containsKey("format")) {
      throw new InvalidInputException(f.path() + ": its value 'format' (" + Limits.excerpt(metadata.get("format"))
          + ") would take the place of safetensors' format key (pt, which readers check); the checkpoint cannot be "
          + "written as safetensors");
    }
    metadata.put("format", "pt");
    ByteBuffer header = SafetensorsWriter.header(metadata, table);
    long pos = FileWrites.write(header, out, 0);
    // runs of contiguous views are copied as one list of ranges: chunks decode ahead across tensors, on every core
    List<long[]> run = new ArrayList<>();
    for (TorchCheckpoint.View v : views) {
      if (v.contiguous()) {
        run.add(new long[] {v.begin(), v.end()});
      } else {
        pos = copyRun(reader, f, run, out, pos);
        pos = gather(reader, f, v, out, pos);
      }
    }
    copyRun(reader, f, run, out, pos);
    return views.size();
  }

  /** The name torch gives {@code dtype} ({@code torch.complex128}). */
  private static String torchName(DType dtype) {
    return Unpickler.TENSOR_DTYPES.entrySet().stream().filter(e -> e.getValue() == dtype)
        .map(e -> "torch." + e.getKey()).findFirst().orElse(dtype.name());
  }

  /** Copies the ranges of {@code run} to {@code out} at {@code pos} and empties it; returns the position after. */
  private static long copyRun(ModelReader reader, FileEntry f, List<long[]> run, FileChannel out, long pos)
      throws IOException {
    long n = 0;
    for (long[] r : run) {
      n += r[1] - r[0];
    }
    out.position(pos);
    reader.copyRanges(f.path(), run, out);
    if (out.position() != pos + n) {
      throw new IOException(f.path() + ": wrote " + (out.position() - pos) + " bytes of tensors, expected " + n);
    }
    run.clear();
    return pos + n;
  }

  /**
   * Writes the elements of a non-contiguous view in row-major order to {@code out} at {@code pos}; returns the
   * position after. A view whose span of its storage fits a quarter of the heap has that span read into memory once,
   * and its elements go out {@link #GATHER_BLOCK} bytes at a time. A larger one is gathered in blocks of at most an
   * eighth of the heap each, every block from the span read a window of that size at a time (a transposed view takes
   * from the whole span for every block): memory stays bounded, and the span is read once a block. Until 2026-12-08
   * the span and the whole view were held on the heap together (a transposed 256 MiB tensor ran out of the default
   * heap).
   */
  private static long gather(ModelReader reader, FileEntry f, TorchCheckpoint.View v, FileChannel out, long pos)
      throws IOException {
    long span = v.end() - v.begin();
    long len = v.dtype().byteLength(v.tensor().elements());
    if (span > MAX_VIEW_SPAN || len > MAX_VIEW_SPAN) {
      throw new InvalidInputException(f.path() + ": tensor '" + v.name() + "' is a non-contiguous view of " + len
          + " bytes over " + span + " bytes of its storage; Ferry gathers such a view in memory, at most "
          + MAX_VIEW_SPAN + " bytes of either");
    }
    int es = v.dtype().bits() / 8;
    int dims = v.tensor().shape().size();
    long[] shape = new long[dims];
    long[] strides = new long[dims];
    for (int d = 0; d < dims; d++) {
      shape[d] = v.tensor().shape().get(d);
      strides[d] = v.tensor().strides().get(d);
    }
    long heapQuarter = Runtime.getRuntime().maxMemory() / 4;
    boolean whole = span <= heapQuarter;
    // whole numbers of elements: GATHER_BLOCK is a power of two, and so is every element's size
    long piece = Math.max(GATHER_BLOCK, Long.highestOneBit(heapQuarter / 2));
    byte[] window = new byte[(int) (whole ? span : Math.min(span, piece))];
    byte[] block = new byte[(int) Math.min(len, whole ? GATHER_BLOCK : piece)];
    if (whole) {
      reader.readFile(f.path(), v.begin(), ByteBuffer.wrap(window));
    }
    long n = v.tensor().elements();
    long perBlock = Math.max(1, block.length / Math.max(1, es));
    long[] index = new long[dims];
    for (long k0 = 0; k0 < n; k0 += perBlock) {
      long k1 = Math.min(n, k0 + perBlock);
      long copied = 0;
      for (long w0 = 0; w0 < span; w0 += window.length) {
        int wl = (int) Math.min(window.length, span - w0);
        if (!whole) {
          reader.readFile(f.path(), v.begin() + w0, ByteBuffer.wrap(window, 0, wl));
        }
        unravel(k0, shape, index);
        for (long k = k0; k < k1; k++) {
          long off = 0;
          for (int d = 0; d < dims; d++) {
            off += index[d] * strides[d];
          }
          off = off * es - w0;
          if (off >= 0 && off + es <= wl) {
            System.arraycopy(window, (int) off, block, (int) ((k - k0) * es), es);
            copied++;
          }
          for (int d = dims - 1; d >= 0; d--) {
            if (++index[d] < shape[d]) {
              break;
            }
            index[d] = 0;
          }
        }
      }
      if (copied != k1 - k0) { // the view's bounds said every element lies in its span
        throw new IOException(f.path() + ": tensor '" + v.name() + "': " + (k1 - k0 - copied) + " of elements " + k0
            + ".." + (k1 - 1) + " lie outside the view's " + span + " bytes of its storage");
      }
      pos = FileWrites.write(ByteBuffer.wrap(block, 0, (int) ((k1 - k0) * es)), out, pos);
    }
    return pos;
  }

  /** Sets {@code index} to the row-major index of element {@code k} of a tensor of {@code shape}. */
  private static void unravel(long k, long[] shape, long[] index) {
    for (int d = shape.length - 1; d >= 0; d--) {
      index[d] = k % shape[d];
      k /= shape[d];
    }
  }

  /** A stored file as a {@link ByteSource}, read through the verified chunk path. */
  private static ByteSource source(ModelReader reader, FileEntry f) {
    return new ByteSource() {
      @Override
      public String name() {
        return f.path();
      }

      @Override
      public long size() {
        return f.size();
      }

      @Override
      public void readFully(ByteBuffer dst, long position) throws IOException {
        reader.readFile(f.path(), position, dst);
      }
    };
  }
}
