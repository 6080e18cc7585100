package io.ferry.read;

import io.ferry.id.ChunkId;
import io.ferry.concurrent.DaemonThreads;
import io.ferry.error.InvalidInputException;
import io.ferry.error.NotFoundException;
import io.ferry.format.TensorInfo;
import io.ferry.format.torch.TorchMetadata;
import io.ferry.store.FileWrites;
import io.ferry.concurrent.Futures;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Reads one version without writing files: lists its tensors, reads a whole tensor or a row range of one into a
 * {@link ByteBuffer}, streams tensors in file order, copies a file to a channel.
 *
 * <p>A tensor is found by its name ({@link #tensor(String)}), or by its file and name ({@link #tensor(String,
 * String)}) when several files of the version hold a tensor of that name (a diffusers pipeline: {@code unet/} and
 * {@code vae/} may both hold {@code conv_in.weight}): a name alone is then refused, naming the files, and never read
 * from one of them at random. The read methods also take a {@link Located} this reader gave. Every chunk is read
 * through the {@link ChunkReader}, so its frame, its length against the snapshot and its CRC are checked; with {@link
 * #verifying(boolean)} also its SHA-256. Whole chunks decode straight into the caller's buffer. Thread-safe.
 */
public final class ModelReader implements Closeable {
  private final ChunkReader reader;
  private final ChunkId versionId;
  private final Version version;
  private final Snapshot snapshot;
  private final Locator locator;
  /** Every tensor of every file, in file order. */
  private final List<Located> tensors = new ArrayList<>();
  /** Tensor name to the tensors of that name: one, or one per file that holds a tensor of that name. */
  private final Map<String, List<Located>> byName = new HashMap<>();
  private volatile boolean sha256;
  private volatile boolean closed;
  private volatile MissingReport missing = e -> e;
  /** The raw length of the version's biggest chunk: what its copies' buffers are sized for. */
  private final long biggestChunk;

  /** A tensor and the file it is in. */
  public record Located(FileEntry file, TensorInfo info) {
    /** Offset of the tensor's first byte in its file. */
    public long fileOffset() {
      return file.dataStart() + info.begin();
    }
  }

  /** A reader of one version whose chunks {@code locator} finds and {@code reader} reads. */
  public ModelReader(ChunkReader reader, ChunkId versionId, Version version, Snapshot snapshot, Locator locator) {
    this.reader = reader;
    this.versionId = versionId;
    this.version = version;
    this.snapshot = snapshot;
    this.locator = locator;
    for (FileEntry f : snapshot.files()) {
      for (TensorInfo t : f.tensors()) {
        Located l = new Located(f, t);
        tensors.add(l);
        byName.computeIfAbsent(t.name(), n -> new ArrayList<>(1)).add(l);
      }
    }
    this.biggestChunk = ChunkBuffers.biggestChunk(snapshot.files());
  }

  /** What a read reports when it finds an object of the version missing. */
  @FunctionalInterface
  public interface MissingReport {
    /** The error to throw for {@code e}, an object of the version found missing (its message names what it held). */
    IOException report(io.ferry.error.MissingObjectException e) throws IOException;
  }

  /**
   * Reports an object of the version that a read finds missing through {@code report} (by default, the {@link
   * io.ferry.error.MissingObjectException} itself): a reader does not keep its version from gc, so once no ref
   * reaches the version, a gc may remove its objects under the open reader; a {@link
   * io.ferry.repo.Repository#open repository's} reader then reports that the version is no longer in the store.
   */
  public ModelReader reportingMissing(MissingReport report) {
    this.missing = Objects.requireNonNull(report, "report");
    return this;
  }

  /** {@code e}, a failure to read the chunk at bytes {@code [from, to)} of {@code f}, named and reported. */
  private IOException failed(IOException e, FileEntry f, long from, long to) throws IOException {
    IOException named = ChunkOwners.in(e, f, from, to);
    return named instanceof io.ferry.error.MissingObjectException m ? missing.report(m) : named;
  }

  /** Also check the SHA-256 of every chunk read (the frame CRC is always checked). */
  public ModelReader verifying(boolean on) {
    this.sha256 = on;
    return this;
  }

  public ChunkId versionId() {
    return versionId;
  }

  public Version version() {
    return version;
  }

  public Snapshot snapshot() {
    return snapshot;
  }

  /**
   * All tensors of all tensor files, in file order; a name several files hold is listed once per file (tell them
   * apart by {@link Located#file()}).
   */
  public List<Located> tensors() {
    return Collections.unmodifiableList(tensors);
  }

  /**
   * One tensor by name.
   *
   * @throws NotFoundException if no file of the version holds a tensor of that name
   * @throws NullPointerException if {@code name} is null (the message names it)
   * @throws InvalidInputException if several files do (the message names them): use {@link #tensor(String, String)}
   */
  public Located tensor(String name) throws IOException {
    List<Located> all = byName.get(Objects.requireNonNull(name, "name"));
    if (all == null) {
      throw new NotFoundException("version " + versionId.shortHex(12) + " has no tensor '" + name + "'"
          + unlistedNote(null, name));
    }
    if (all.size() > 1) {
      List<String> files = all.stream().map(l -> l.file().path()).toList();
      throw new InvalidInputException("version " + versionId.shortHex(12) + " has a tensor '" + name + "' in each of "
          + files.size() + " files (" + String.join(", ", files) + "): name the file as well, tensor(file, name)");
    }
    return all.get(0);
  }

  /** Whether several files of the version hold a tensor of this name (so {@link #tensor(String)} refuses it). */
  public boolean heldBySeveralFiles(String name) {
    return byName.getOrDefault(name, List.of()).size() > 1;
  }

  /**
   * The tensor of that name in the file of that path.
   *
   * @throws NotFoundException if the version has no such file, or the file no tensor of that name
   */
  public Located tensor(String path, String name) throws NotFoundException {
    FileEntry f = file(path);
    Objects.requireNonNull(name, "name");
    for (Located l : byName.getOrDefault(name, List.of())) {
      if (l.file() == f) {
        return l;
      }
    }
    throw new NotFoundException("version " + versionId.shortHex(12) + " has no tensor '" + name + "' in " + path
        + unlistedNote(path, name));
  }

  /**
   * What a message that a tensor was not found adds when the version's files (or the one at {@code path}, if not
   * null) hold tensors their format does not list, so that the name asked for may be one of them: ONNX initializers
   * whose values are not one byte range of the file as their type lays out its elements (varints in
   * {@code int32_data} or {@code int64_data}, strings, {@code float_data} in several runs, segments, packed 2- or
   * 4-bit values whose last byte ONNX pads), counted in {@code initializers.unlisted}. Empty if none do.
   */
  public String unlistedNote(String path) {
    return unlistedNote(path, null);
  }

  /**
   * As {@link #unlistedNote(String)} for a tensor asked for by {@code name}; when a file says that an initializer of
   * that name lies below its main graph (a subgraph's initializer, or a sparse initializer: ONNX's metadata key
   * {@code below.NAME}), the note says so plainly instead: what and where it is, and that Ferry does not list it. So
   * it does when an ONNX file records the name as an initializer with external data ({@code external.NAME}), asked
   * for in that ONNX file or in its data file: the note names the data file that lists it as a tensor, or, when none
   * does (its data file is stored opaque), says where its bytes are.
   */
  public String unlistedNote(String path, String name) {
    StringBuilder below = new StringBuilder();
    for (FileEntry f : snapshot.files()) {
      String where = name != null && "onnx".equals(f.format()) && (path == null || path.equals(f.path()))
          ? f.metadata().get("below." + name) : null;
      if (where != null) {
        below.append(below.length() == 0 ? "" : "; and in ").append(f.path()).append(", '").append(name)
            .append("' is ").append(where);
      }
    }
    if (below.length() > 0) {
      return "; in " + below + ": Ferry lists only the initializers of an ONNX model's main graph as tensors (ONNX"
          + " does not name those of subgraphs uniquely, and a sparse initializer is not its dense tensor's bytes),"
          + " so it is read only as part of the whole file";
    }
    // an initializer with external data is a tensor of its data file, unless that file could not be cut exactly
    StringBuilder external = new StringBuilder();
    for (FileEntry f : snapshot.files()) {
      String where = name != null && "onnx".equals(f.format()) ? f.metadata().get("external." + name) : null;
      if (where != null && (path == null || path.equals(f.path()) || path.equals(dataFile(f.path(), where)))) {
        external.append(external.length() == 0 ? "" : "; and in ").append(f.path()).append(", '").append(name)
            .append("' is an initializer whose data is external (").append(where).append(')');
      }
    }
    if (external.length() > 0 && byName.containsKey(name)) {
      List<String> files = byName.get(name).stream().map(l -> l.file().path()).toList();
      return "; in " + external + ": it is tensor '" + name + "' of " + String.join(", ", files);
    }
    if (external.length() > 0) {
      return "; in " + external + ", in a file Ferry stores as opaque bytes, not cut at its initializers (two of"
          + " them overlap, one has no Ferry dtype, two ONNX files point into it, or the push named it with"
          + " --opaque): read those bytes of that file instead";
    }
    StringBuilder out = new StringBuilder();
    for (FileEntry f : snapshot.files()) {
      String n = "onnx".equals(f.format()) && (path == null || path.equals(f.path()))
          ? f.metadata().get("initializers.unlisted") : null;
      if (n != null && !n.equals("0")) {
        out.append(out.length() == 0 ? "" : ", ").append(f.path()).append(": initializers.unlisted = ").append(n);
      }
    }
    return out.length() == 0 ? "" : "; it may be an ONNX initializer that Ferry does not list as a tensor (" + out
        + "), as its values are not one byte range of the file in its type's layout (varints in int32_data or"
        + " int64_data, strings, float_data in several runs, segments, or 2- or 4-bit values that do not fill their"
        + " last byte, which ONNX pads): it is read only as part of the whole file";
  }

  /**
   * The path in the version of the data file that an ONNX file at {@code onnxPath} records an external initializer
   * in ({@code where}: {@code F32 [4] in w.bin at 0+16}, its location relative to the ONNX file's directory), or null
   * if {@code where} does not say.
   */
  private static String dataFile(String onnxPath, String where) {
    int from = where.indexOf("] in ");
    int to = where.lastIndexOf(" at ");
    if (from < 0 || to < from + 5) {
      return null;
    }
    StringBuilder b = new StringBuilder(onnxPath.substring(0, onnxPath.lastIndexOf('/') + 1));
    for (String part : where.substring(from + 5, to).replace('\\', '/').split("/")) {
      if (!part.isEmpty() && !part.equals(".")) {
        b.append(b.length() == 0 || b.charAt(b.length() - 1) == '/' ? "" : "/").append(part);
      }
    }
    return b.toString();
  }

  /** The tensor of this version that {@code t} names: refuses one that another version's reader gave. */
  private Located own(Located t) throws IOException {
    Objects.requireNonNull(t, "tensor");
    Located mine = tensor(t.file().path(), t.info().name());
    if (mine != t && !mine.info().equals(t.info())) {
      throw new InvalidInputException("tensor '" + t.info().name() + "' of " + t.file().path() + " is not the one"
          + " of version " + versionId.shortHex(12) + " (another version's?)");
    }
    return mine;
  }

  /**
   * Reads a whole tensor into a new heap buffer.
   *
   * @throws InvalidInputException if the tensor is larger than one buffer holds (2 GiB): read it by rows
   */
  public ByteBuffer read(String name) throws IOException {
    return read(tensor(name));
  }

  /** Reads a whole tensor of this version ({@link #tensor(String, String)}) into a new heap buffer. */
  public ByteBuffer read(Located tensor) throws IOException {
    Located t = contiguous(own(tensor));
    ByteBuffer out = allocate(t.info().byteLength(), t.info().name(), "read it by rows");
    read(t, out);
    return out.flip();
  }

  /** Reads a whole tensor into {@code dst} (direct or heap), which must have room for it. */
  public void read(String name, ByteBuffer dst) throws IOException {
    read(tensor(name), dst);
  }

  /** Reads a whole tensor of this version into {@code dst} (direct or heap), which must have room for it. */
  public void read(Located tensor, ByteBuffer dst) throws IOException {
    Located t = contiguous(own(tensor));
    readRange(t.file(), t.fileOffset(), t.fileOffset() + t.info().byteLength(), dst);
  }

  /**
   * Reads rows {@code [from, to)} of a tensor's first dimension into a new heap buffer.
   *
   * @throws InvalidInputException if the rows lie outside the tensor, it has none (see {@link #copyRows}), or they
   *     are more bytes than one buffer holds (2 GiB)
   */
  public ByteBuffer readRows(String name, long from, long to) throws IOException {
    return readRows(tensor(name), from, to);
  }

  /** Reads rows {@code [from, to)} of the first dimension of a tensor of this version into a new heap buffer. */
  public ByteBuffer readRows(Located tensor, long from, long to) throws IOException {
    Located t = contiguous(own(tensor));
    long row = rowBytes(t, from, to);
    ByteBuffer out = allocate((to - from) * row, t.info().name(), "read fewer rows");
    long start = t.fileOffset() + from * row;
    readRange(t.file(), start, start + (to - from) * row, out);
    return out.flip();
  }

  /**
   * Reads rows {@code [from, to)} of a tensor's first dimension into {@code dst} (direct or heap), which must have
   * room for them. Reading whole stored chunks (rows that start and end at chunk boundaries) decodes straight into
   * {@code dst}; a range that cuts a compressed chunk decodes that whole chunk first.
   */
  public void readRows(String name, long from, long to, ByteBuffer dst) throws IOException {
    readRows(tensor(name), from, to, dst);
  }

  /**
   * Reads rows {@code [from, to)} of a tensor of this version into {@code dst}, as {@link #readRows(String, long, long,
   * ByteBuffer)} does.
   */
  public void readRows(Located tensor, long from, long to, ByteBuffer dst) throws IOException {
    Located t = contiguous(own(tensor));
    long row = rowBytes(t, from, to);
    long start = t.fileOffset() + from * row;
    readRange(t.file(), start, start + (to - from) * row, dst);
  }

  /**
   * Copies a whole tensor of this version (its elements in row-major order, as stored) to a channel, as {@link
   * #copyFile} copies a file: chunk by chunk, each checked, in bounded memory whatever the tensor's size.
   *
   * @throws InvalidInputException if the tensor is a non-contiguous view of a PyTorch storage
   */
  public void copyTensor(Located tensor, WritableByteChannel out) throws IOException {
    Located t = contiguous(own(tensor));
    copyRange(t.file().path(), t.fileOffset(), t.fileOffset() + t.info().byteLength(), out);
  }

  /**
   * Copies rows {@code [from, to)} of the first dimension of a tensor of this version to a channel, as {@link
   * #copyTensor} copies it whole.
   *
   * @throws InvalidInputException if the rows lie outside the tensor, or it has no rows of whole bytes (a scalar, a
   *     row of packed sub-byte elements or of part of a block), or it is a non-contiguous view
   */
  public void copyRows(Located tensor, long from, long to, WritableByteChannel out) throws IOException {
    Located t = contiguous(own(tensor));
    long row = rowBytes(t, from, to);
    long start = t.fileOffset() + from * row;
    copyRange(t.file().path(), start, start + (to - from) * row, out);
  }

  /** The bytes of a row of {@code t}, once rows {@code [from, to)} are known to be rows of it. */
  private static long rowBytes(Located t, long from, long to) throws InvalidInputException {
    String name = t.info().name();
    long row = t.info().rowBytes();
    if (row < 0) {
      String why = t.info().shape().isEmpty() ? "a scalar has no rows; read it whole"
          : "a row (the elements after the first dimension) is not a whole number of bytes"
              + (t.info().dtype().blockSize() > 1 ? " or blocks of " + t.info().dtype().blockSize() : "")
              + "; read it whole";
      throw new InvalidInputException("tensor '" + name + "' of " + t.file().path() + " with shape "
          + t.info().shape() + " and dtype " + t.info().dtype() + " cannot be read by rows: " + why);
    }
    long rows = t.info().rows();
    if (to < from && from >= 0) {
      throw new InvalidInputException("rows [" + from + ", " + to + ") of tensor '" + name + "' are inverted: the end "
          + to + " is before the start " + from);
    }
    if (from < 0 || to > rows) {
      throw new InvalidInputException("rows [" + from + ", " + to + ") are outside tensor '" + name + "' with "
          + rows + " rows");
    }
    return row;
  }

  /**
   * Whether a tensor's bytes are its elements in row-major order, so that {@link #read} and {@link #readRows} take it:
   * false for a view of a PyTorch storage that is not contiguous (transposed, strided, expanded), which they refuse.
   */
  public boolean rowMajor(Located t) {
    return TorchMetadata.strides(t.file().format(), t.file().metadata(), t.info().name()) == null;
  }

  /**
   * A tensor whose bytes are its elements in row-major order. A view of a PyTorch storage that is not (a transposed
   * or strided view, whose checkpoint's metadata gives its strides; another format's metadata is its own text) is
   * refused: its range holds the bytes it spans, not its elements in order.
   */
  private static Located contiguous(Located t) throws IOException {
    String name = t.info().name();
    String strides = TorchMetadata.strides(t.file().format(), t.file().metadata(), name);
    if (TorchMetadata.UNRECORDED.equals(strides)) {
      throw new InvalidInputException("tensor '" + name + "' of " + t.file().path() + " may be a non-contiguous"
          + " view: the checkpoint has more views than its metadata records strides for (views.unrecorded), and this"
          + " one's are not recorded, so it cannot be read as a byte range; pull the version with --as safetensors to"
          + " get it contiguous");
    }
    if (strides != null) {
      throw new InvalidInputException("tensor '" + name + "' of " + t.file().path() + " is a non-contiguous view"
          + " (strides " + strides + " in elements) and cannot be read as a byte range; pull the version with --as"
          + " safetensors to get it contiguous");
    }
    return t;
  }

  /**
   * Reads bytes of a file from {@code position} on into {@code dst}, as many as it has room for, through the verified
   * chunk path.
   *
   * @throws InvalidInputException if the range runs past the end of the file
   */
  public void readFile(String path, long position, ByteBuffer dst) throws IOException {
    Objects.requireNonNull(dst, "dst");
    FileEntry f = file(path);
    if (position < 0 || position > f.size() - dst.remaining()) {
      String end = position > Long.MAX_VALUE - dst.remaining() ? position + " + " + dst.remaining()
          : String.valueOf(position + dst.remaining()); // an end past Long.MAX_VALUE, as asked
      throw new InvalidInputException(path + ": bytes [" + position + ", " + end + ") lie outside the file of "
          + f.size() + " bytes");
    }
    readRange(f, position, position + dst.remaining(), dst);
  }

  /**
   * Streams every tensor in file order: {@code sink} gets each tensor's bytes in a buffer it must not keep, on the
   * calling thread, one tensor after the other. Like {@link #read(String)}, refuses a non-contiguous view (before
   * streaming anything).
   *
   * <p>Chunks are read, checked and decoded ahead on one thread per core while the sink works, as {@link #copyFile}
   * does: a tensor that is one chunk (most are: each tensor up to 64 MiB is a chunk of its own) reaches the sink in
   * the buffer it was decoded into, from the bounded buffers the JVM's copies share (see {@link #copyFile}); a
   * bigger tensor, cut into row-range chunks, is read into one buffer of its size, its chunks decoding in the same
   * read-ahead.
   *
   * @throws InvalidInputException if a tensor is larger than one buffer holds (2 GiB), or a cut one than the JVM's
   *     direct memory has room for: read it with {@link #readRows} instead (before streaming anything)
   */
  public void forEachTensor(TensorSink sink) throws IOException {
    Objects.requireNonNull(sink, "sink");
    ensureOpen();
    List<Located> all = tensors;
    for (Located t : all) {
      contiguous(t);
      if (t.info().byteLength() > Integer.MAX_VALUE - 64) {
        throw new InvalidInputException("tensor '" + t.info().name() + "' of version " + versionId.shortHex(12)
            + " is " + t.info().byteLength() + " bytes, more than one buffer holds: read it by rows");
      }
    }
    // every chunk piece of every tensor, in order: a one-chunk tensor decodes into a pooled buffer that goes to the
    // sink as it is; the pieces of a tensor cut into several chunks decode into their places in one buffer
    List<Piece> pieces = new ArrayList<>();
    int[] firstPiece = new int[all.size() + 1];
    boolean[] whole = new boolean[all.size()];
    long biggestCut = 0;
    Located biggest = null; // the tensor of biggestCut bytes
    Map<FileEntry, long[]> offsets = new java.util.IdentityHashMap<>();
    for (int i = 0; i < all.size(); i++) {
      firstPiece[i] = pieces.size();
      Located t = all.get(i);
      addPieces(t.file(), offsets.computeIfAbsent(t.file(), FileEntry::chunkOffsets), t.fileOffset(),
          t.fileOffset() + t.info().byteLength(), pieces);
      Piece only = pieces.size() - firstPiece[i] == 1 ? pieces.get(firstPiece[i]) : null;
      whole[i] = only != null && only.from() == 0 && only.to() == only.chunk().length();
      if (!whole[i] && t.info().byteLength() > biggestCut) {
        biggestCut = t.info().byteLength();
        biggest = t;
      }
    }
    firstPiece[all.size()] = pieces.size();
    SharedBuffers.Share buffers = SharedBuffers.forChunksUpTo(biggestChunk);
    int readers = Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), buffers.slots()));
    // one piece more than there are readers: one in the sink while each reader decodes the next (each pooled output is
    // a new direct buffer on a reader's first stream, zeroed and faulted in: no more of them than needed)
    int window = Math.min(buffers.slots(), readers + 1);
    ByteBuffer cut;
    try {
      cut = biggestCut > 0 ? buffers.takeWhole((int) biggestCut) : null;
    } catch (OutOfMemoryError e) { // a direct buffer of a known size, before anything is streamed: nothing to undo
      throw new InvalidInputException("tensor '" + biggest.info().name() + "' of version " + versionId.shortHex(12)
          + " is " + biggestCut + " bytes, more than this JVM's direct memory has room for (" + e.getMessage()
          + "): read it by rows or copy it with copyTensor, or give the JVM more (-XX:MaxDirectMemorySize)");
    }
    ExecutorService pool = Executors.newFixedThreadPool(readers, DaemonThreads.named("ferry-tensors"));
    ArrayDeque<InFlight> ahead = new ArrayDeque<>();
    InFlight current = null; // the piece awaited, or whose buffer the sink has
    ChunkReader.Check check = check();
    try {
      int next = 0; // the next piece to start
      int owner = 0; // the tensor of piece next
      int place = 0; // where piece next goes in its tensor
      int cutOwner = -1; // the cut tensor whose pieces are decoding into cut, if any
      for (int i = 0; i < all.size(); i++) {
        ensureOpen(); // a reader closed while it streams reads no more
        Located t = all.get(i);
        ByteBuffer data = null;
        for (int p = firstPiece[i]; p < firstPiece[i + 1]; p++) {
          // start pieces up to the window, while the shared buffers have room (see SharedBuffers); a cut tensor's
          // pieces wait while another cut tensor holds the buffer
          while (next < pieces.size() && ahead.size() < window) {
            while (next == firstPiece[owner + 1]) { // skips tensors of no piece
              owner++;
              place = 0;
            }
            Piece piece = pieces.get(next);
            int length = (int) (piece.to() - piece.from());
            if (whole[owner]) {
              ByteBuffer dst = buffers.takeOutput((int) piece.chunk().length(), ahead.isEmpty());
              if (dst == null) {
                break;
              }
              ahead.add(new InFlight(pool.submit(() -> decode(piece.chunk(), check, dst, buffers)), dst));
            } else if (cutOwner == -1 || cutOwner == owner) {
              cutOwner = owner;
              ByteBuffer into = cut.duplicate().clear().position(place).limit(place + length);
              ahead.add(new InFlight(pool.submit(() -> readPiece(piece, check, into, buffers)), null));
            } else {
              break;
            }
            place += length;
            next++;
          }
          current = ahead.poll();
          try {
            data = Futures.await(current.result(), "reading tensor '" + t.info().name() + "' of version "
                + versionId.shortHex(12));
          } catch (IOException e) {
            Piece failed = pieces.get(p);
            throw failed(e, t.file(), failed.at(), failed.at() + failed.chunk().length());
          }
        }
        if (whole[i]) {
          try {
            sink.accept(t, data);
          } finally {
            current = null; // decoded: its buffer goes back whatever the sink did
            buffers.giveOutput(data);
          }
        } else if (t.info().byteLength() == 0) {
          sink.accept(t, ByteBuffer.allocate(0)); // no chunk, and no cut buffer when no tensor is cut
        } else {
          sink.accept(t, cut.clear().limit((int) t.info().byteLength()));
          if (cutOwner == i) {
            cutOwner = -1;
          }
        }
      }
    } finally {
      stop(pool, current, ahead, buffers);
    }
    // only a stream that ended well gives its cut buffer back: a reader a failed one cancelled may still write into it
    if (cut != null) {
      buffers.giveWhole(cut);
    }
  }

  /** A chunk handed to a decoding thread, and the output buffer it decodes into (null if none of the shared ones). */
  private record InFlight(Future<ByteBuffer> result, ByteBuffer output) {}

  /**
   * Stops the decoding threads of a copy or stream; the output buffers of chunks still in flight ({@code current} and
   * {@code ahead}: none once a copy ended well) are dropped from the shared buffers, not given back, as a cancelled
   * decode may still write into them.
   */
  private static void stop(ExecutorService pool, InFlight current, ArrayDeque<InFlight> ahead,
      SharedBuffers.Share buffers) {
    for (InFlight f : ahead) {
      f.result().cancel(true);
    }
    pool.shutdownNow();
    if (current != null && current.output() != null) {
      buffers.dropOutput(current.output());
    }
    for (InFlight f : ahead) {
      if (f.output() != null) {
        buffers.dropOutput(f.output());
      }
    }
  }

  /** Reads a piece of a chunk into {@code into} (its place in a tensor's buffer); returns {@code into}. */
  private ByteBuffer readPiece(Piece p, ChunkReader.Check check, ByteBuffer into, SharedBuffers.Share buffers)
      throws IOException {
    ChunkRef c = p.chunk();
    if (p.from() == 0 && p.to() == c.length()) {
      reader.readInto(locator.locate(c.id()), c.length(), check, into, buffers);
    } else {
      reader.readRange(locator.locate(c.id()), c.length(), p.from(), p.to(), check, into);
    }
    return into;
  }

  /** Receives streamed tensors. */
  @FunctionalInterface
  public interface TensorSink {
    void accept(Located tensor, ByteBuffer data) throws IOException;
  }

  /**
   * Reads a whole (small) file into a new heap buffer.
   *
   * @throws InvalidInputException if the file is larger than one buffer holds (2 GiB): {@link #copyFile} copies it,
   *     and {@link #readFile(String, long, ByteBuffer)} reads it in parts
   */
  public ByteBuffer readFile(String path) throws IOException {
    FileEntry f = file(path);
    ByteBuffer out = allocate(f.size(), path,
        "copy it with copyFile or read it in parts with readFile(path, position, dst)");
    readRange(f, 0, f.size(), out);
    return out.flip();
  }

  /**
   * Copies a file to a channel in order; no byte of a chunk reaches {@code out} before it passed its checks. Chunks
   * are read and decoded ahead on one thread per core while the calling thread writes the oldest, so a file of
   * compressed chunks streams at the speed of all cores' decoding. Memory is that of a pull, for all copies of the JVM
   * together: the chunks in flight take their buffers from ones the JVM's copies and streams share, bounded as one
   * pull's are (two of the file's biggest chunks with the launcher's default heap), and a chunk's buffer goes back
   * once written; copies running at once share that bound, each with at least one chunk in flight.
   */
  public void copyFile(String path, WritableByteChannel out) throws IOException {
    copyRange(path, 0, file(path).size(), out);
  }

  /**
   * Copies bytes {@code [from, to)} of a file to a channel in order, as {@link #copyFile} does: each chunk the range
   * touches is read, checked and decoded once, and only its part of the range is written.
   */
  public void copyRange(String path, long from, long to, WritableByteChannel out) throws IOException {
    copyRanges(path, List.of(new long[] {from, to}), out);
  }

  /**
   * Copies byte ranges {@code [from, to)} of a file to a channel, one after the other in the list's order, as {@link
   * #copyRange} does each: chunks are read and decoded ahead across the ranges, so many small ranges (the tensors of
   * a checkpoint) stream as fast as one big one. A chunk two consecutive ranges share is decoded for each.
   *
   * @param ranges pairs {@code {from, to}}
   * @throws InvalidInputException if a range is inverted or runs outside the file (before anything is copied; the
   *     message says which), as {@link #readFile(String, long, ByteBuffer)} refuses one outside the file
   * @throws IllegalArgumentException if {@code out} is a channel in non-blocking mode (before anything is read), as
   *     {@link java.nio.channels.Channels#newOutputStream} refuses one: it may take no byte of a write
   */
  public void copyRanges(String path, List<long[]> ranges, WritableByteChannel out) throws IOException {
    Objects.requireNonNull(ranges, "ranges");
    Objects.requireNonNull(out, "out");
    if (out instanceof java.nio.channels.SelectableChannel s && !s.isBlocking()) {
      // a full pipe or socket takes nothing, and writing would spin on it at full CPU until it drained, if ever
      throw new IllegalArgumentException("out is a channel in non-blocking mode (" + out.getClass().getName()
          + "): copies write to blocking channels");
    }
    FileEntry f = file(path);
    long[] offsets = f.chunkOffsets();
    List<Piece> pieces = new ArrayList<>();
    for (long[] r : ranges) {
      if (r.length != 2) {
        throw new IllegalArgumentException("a range is two offsets {from, to}, not " + Arrays.toString(r));
      }
      if (r[1] < r[0] && r[0] >= 0) {
        throw new InvalidInputException(path + ": bytes [" + r[0] + ", " + r[1] + ") are inverted: the end " + r[1]
            + " is before the start " + r[0]);
      }
      if (r[0] < 0 || r[1] > f.size()) {
        throw new InvalidInputException(path + ": bytes [" + r[0] + ", " + r[1] + ") lie outside the file of "
            + f.size() + " bytes");
      }
      if (r[0] == r[1]) {
        continue;
      }
      addPieces(f, offsets, r[0], r[1], pieces);
    }
    copyPieces(f, pieces, out);
  }

  /**
   * Adds to {@code out} the pieces of the file's chunks that bytes {@code [from, to)} of it lie in, in order.
   *
   * @param offsets the file's {@link FileEntry#chunkOffsets()}
   */
  private static void addPieces(FileEntry f, long[] offsets, long from, long to, List<Piece> out) {
    for (int i = FileEntry.chunkAt(offsets, from); from < to && i < f.chunks().size() && offsets[i] < to; i++) {
      out.add(new Piece(f.chunks().get(i), offsets[i], Math.max(from, offsets[i]) - offsets[i],
          Math.min(to, offsets[i + 1]) - offsets[i]));
    }
  }

  /** The bytes {@code [from, to)} of a chunk, which starts at byte {@code at} of its file. */
  private record Piece(ChunkRef chunk, long at, long from, long to) {}

  private void copyPieces(FileEntry f, List<Piece> pieces, WritableByteChannel out) throws IOException {
    ensureOpen();
    if (pieces.isEmpty()) {
      return;
    }
    SharedBuffers.Share buffers = SharedBuffers.forChunksUpTo(biggestChunk);
    int inFlight = Math.min(buffers.slots(), pieces.size());
    int readers = Math.min(Runtime.getRuntime().availableProcessors(), inFlight);
    ChunkReader.Check check = check();
    if (readers < 2) {
      for (Piece p : pieces) {
        ensureOpen(); // a reader closed while it copies reads no more
        ByteBuffer b = buffers.takeOutput((int) p.chunk().length(), true);
        boolean decoded = false;
        try {
          decode(p.chunk(), check, b, buffers);
          decoded = true;
        } catch (IOException e) {
          throw failed(e, f, p.at(), p.at() + p.chunk().length());
        } finally {
          if (!decoded) {
            buffers.giveOutput(b); // decoded on this thread: nothing writes into it any more
          }
        }
        writeAll(part(b, p), out, buffers, f, p);
      }
      return;
    }
    ExecutorService pool = Executors.newFixedThreadPool(readers, DaemonThreads.named("ferry-cat"));
    ArrayDeque<InFlight> ahead = new ArrayDeque<>();
    InFlight current = null; // the chunk awaited
    try {
      int next = 0;
      int written = 0;
      while (next < pieces.size() || !ahead.isEmpty()) {
        // start chunks up to the window, while the shared buffers have room: a copy with none in flight waits for
        // one, a copy with some writes its oldest first (see SharedBuffers)
        while (next < pieces.size() && ahead.size() < inFlight) {
          ChunkRef c = pieces.get(next).chunk();
          ByteBuffer dst = buffers.takeOutput((int) c.length(), ahead.isEmpty());
          if (dst == null) {
            break;
          }
          ahead.add(new InFlight(pool.submit(() -> decode(c, check, dst, buffers)), dst));
          next++;
        }
        ensureOpen(); // a reader closed while it copies reads no more
        Piece p = pieces.get(written);
        current = ahead.poll();
        ByteBuffer b;
        try {
          b = Futures.await(current.result(), "reading '" + f.path() + "' of version " + versionId.shortHex(12));
        } catch (IOException e) {
          throw failed(e, f, p.at(), p.at() + p.chunk().length());
        }
        current = null; // decoded: writeAll gives its buffer back
        written++;
        writeAll(part(b, p), out, buffers, f, p);
      }
    } finally {
      stop(pool, current, ahead, buffers);
    }
  }

  /**
   * Reads, checks and decodes one chunk into {@code dst}, an output buffer of {@code buffers} with room for it, and
   * returns it flipped for writing; whoever took {@code dst} gives it back.
   */
  private ByteBuffer decode(ChunkRef c, ChunkReader.Check check, ByteBuffer dst, SharedBuffers.Share buffers)
      throws IOException {
    reader.readInto(locator.locate(c.id()), c.length(), check, dst, buffers);
    return dst.flip();
  }

  /** The piece's bytes of its decoded chunk (position and limit set). */
  private static ByteBuffer part(ByteBuffer b, Piece p) {
    return b.limit((int) p.to()).position((int) p.from());
  }

  /**
   * Writes a piece of file {@code f} to {@code out}; a write that an interrupt of the thread stopped (the channel's
   * {@link java.nio.channels.ClosedByInterruptException}, which has no message) ends with an
   * {@link java.io.InterruptedIOException} that names the bytes and tensors being copied, as an interrupted read does.
   */
  private static void writeAll(ByteBuffer b, WritableByteChannel out, SharedBuffers.Share buffers, FileEntry f,
      Piece p)
      throws IOException {
    try {
      FileWrites.write(b, out);
    } catch (java.nio.channels.ClosedByInterruptException e) {
      java.io.InterruptedIOException named = new java.io.InterruptedIOException("interrupted while writing "
          + ChunkOwners.describe(f, p.at() + p.from(), p.at() + p.to()) + " to the output");
      named.initCause(e);
      throw named;
    } finally {
      buffers.giveOutput(b);
    }
  }

  /** A file of the version. */
  public FileEntry file(String path) throws NotFoundException {
    return snapshot.file(Objects.requireNonNull(path, "path")).orElseThrow(() -> new NotFoundException(
        "version " + versionId.shortHex(12) + " has no file '" + path + "'"));
  }

  /** Reads bytes [from, to) of a file into dst. */
  private void readRange(FileEntry f, long from, long to, ByteBuffer dst) throws IOException {
    ensureOpen();
    Objects.requireNonNull(dst, "dst");
    if (dst.isReadOnly()) {
      // else the decoder's write fails, and that failure reads as a corrupt object
      throw new IllegalArgumentException("buffer is read-only: it cannot take bytes of " + f.path());
    }
    if (dst.remaining() < to - from) {
      throw new IllegalArgumentException("buffer has room for " + dst.remaining() + " bytes, need " + (to - from));
    }
    if (from == to) {
      return;
    }
    long[] offsets = f.chunkOffsets();
    ChunkReader.Check check = check();
    for (int i = FileEntry.chunkAt(offsets, from); i < f.chunks().size() && offsets[i] < to; i++) {
      ChunkRef c = f.chunks().get(i);
      long cs = offsets[i];
      long lo = Math.max(from, cs) - cs;
      long hi = Math.min(to, cs + c.length()) - cs;
      try {
        reader.readRange(locator.locate(c.id()), c.length(), lo, hi, check, dst);
      } catch (IOException e) {
        throw failed(e, f, cs, cs + c.length());
      }
    }
  }

  private ChunkReader.Check check() {
    return sha256 ? ChunkReader.Check.CONTENT : ChunkReader.Check.FRAME;
  }

  /** A new heap buffer of {@code n} bytes for {@code what}; if no buffer holds that many, says so and {@code how}. */
  private static ByteBuffer allocate(long n, String what, String how) throws InvalidInputException {
    if (n > Integer.MAX_VALUE - 64) {
      throw new InvalidInputException("'" + what + "' is " + n + " bytes, more than one buffer holds: " + how);
    }
    return ByteBuffer.allocate((int) n);
  }

  /** @throws IllegalStateException once the reader is closed */
  private void ensureOpen() {
    if (closed) {
      throw new IllegalStateException("the reader of version " + versionId.shortHex(12) + " is closed");
    }
  }

  /**
   * Closes the reader: its reads of bytes throw {@link IllegalStateException} from now on (a stream or copy that
   * another thread runs fails at its next tensor or chunk). The buffers its copies used stay with the JVM's shared
   * ones for the next copy of any reader ({@link SpareBuffers}). Listing tensors and files still works. Closing twice
   * is harmless.
   */
  @Override
  public void close() {
    closed = true;
  }
}
