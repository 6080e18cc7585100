package io.ferry.store.hdfs;

import io.ferry.chunk.ChunkId;
import io.ferry.error.InvalidInputException;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.RefStore;
import io.ferry.store.local.RefLogFormat;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The refs of an {@link HdfsBackend}, moved by compare-and-swap on HDFS's own atomic primitive: a rename onto a name
 * that does not exist. "The log is the ref": each ref is a directory {@code refs/<name>/_log/} of immutable entries
 * named by their sequence number (1, 2, 3... as 20 digits), entry {@code n} holding move {@code n} in {@link
 * RefLogFormat} (one CRC-checked line); the ref's value is the {@code new} id of its highest entry.
 *
 * <p>A move from a value read at entry {@code n} writes its entry complete under a unique name in {@code tmp/},
 * then renames it to {@code _log/<n+1>}. The NameNode serializes namespace operations and refuses a rename onto an
 * existing name, so of all writers that read {@code n} exactly one creates {@code n+1}; the others get {@code false},
 * delete their temporary file and return {@link CasResult#LOCK_FAILURE}. Entries are created only by such renames,
 * so they are always complete and always numbered 1..m without gaps, and a crash at any point leaves either the old
 * value or the new one (plus, at worst, a temporary file that is cleaned up later). {@code docs/hdfs.md} gives the
 * linearizability argument.
 *
 * <p>Where entries live: by default in an extended attribute ({@value #ENTRY_ATTR}) of an empty file, so a move is
 * four NameNode calls (create, complete, setXAttr, rename) without any DataNode, and reading an entry is one call.
 * Entries over {@value #MAX_XATTR_ENTRY} bytes, and every entry when the NameNode has extended attributes disabled,
 * are written as the file's data instead (hsync'ed before the rename); readers accept both.
 *
 * <p>Finding the highest entry: the winner of a move records {@code "<n> <new id>"} in the attribute {@value
 * #HEAD_ATTR} of the {@code _log} directory. It is a hint: it may lag (a slow winner of {@code n-1} may overwrite the
 * hint of {@code n}), never lead, because it is written after its entry exists and entries are never removed. A read
 * probes {@code n+1}, {@code n+2}, {@code n+4}... until a name is missing, then bisects: with an up-to-date hint that
 * is two NameNode calls per {@link #get} whatever the length of the log; without a hint, {@code 2 log2(m)} calls.
 *
 * <p>Thread-safe; safe to share one store between processes and machines.
 */
final class HdfsRefStore implements RefStore {
  private static final Logger LOG = LoggerFactory.getLogger(HdfsRefStore.class);

  static final String LOG_DIR = "_log";
  static final String ENTRY_ATTR = "user.ferry.entry";
  static final String HEAD_ATTR = "user.ferry.head";
  static final int MAX_XATTR_ENTRY = 8192;

  private final FileSystem fs;
  private final Path refs;
  private final Path tmp;
  private final String uri;
  private final boolean hsync;
  private volatile boolean xattrsUnavailable;
  private volatile boolean closed;

  HdfsRefStore(FileSystem fs, Path refs, Path tmp, String uri, HdfsSettings settings) {
    this.fs = fs;
    this.refs = refs;
    this.tmp = tmp;
    this.uri = uri;
    this.hsync = settings.hsync();
  }

  /** The highest entry of a ref: its number (0 if the ref never existed) and the ref's value (null if absent). */
  record Head(long seq, ChunkId value) {}

  Path logDir(String name) {
    return new Path(new Path(refs, name), LOG_DIR);
  }

  static Path entry(Path logDir, long seq) {
    return new Path(logDir, String.format("%020d", seq));
  }

  @Override
  public Optional<ChunkId> get(String name) throws IOException {
    ensureOpen();
    RefNames.checkRef(name);
    return Optional.ofNullable(head(name).value());
  }

  /** Reads the ref's highest entry; linearizable (see the class comment and docs/hdfs.md). */
  Head head(String name) throws IOException {
    Path log = logDir(name);
    long from = 0;
    ChunkId hinted = null;
    Map<String, byte[]> attrs = null;
    if (!xattrsUnavailable) {
      try {
        attrs = fs.getXAttrs(log);
      } catch (FileNotFoundException neverExisted) {
        return new Head(0, null);
      } catch (UnsupportedOperationException | IOException e) {
        noXattrs(e);
      }
    }
    if (attrs != null && attrs.get(HEAD_ATTR) != null) {
      String[] hint = new String(attrs.get(HEAD_ATTR), StandardCharsets.US_ASCII).split(" ");
      if (hint.length == 2 && hint[0].matches("[0-9]{1,19}") && (hint[1].equals("-") || ChunkId.isValid(hint[1]))) {
        from = Long.parseLong(hint[0]);
        hinted = hint[1].equals("-") ? null : ChunkId.parse(hint[1]);
      }
    }
    long last = highest(log, from);
    if (last == 0) {
      return new Head(0, null);
    }
    if (last == from) {
      return new Head(last, hinted);
    }
    RefLogEntry e = readEntry(log, last);
    if (e == null) {
      throw new IOException("ref log " + entry(log, last) + " in " + uri + " vanished while reading: entries are never "
          + "removed, so the store was changed by hand");
    }
    return new Head(last, e.newId());
  }

  /**
   * The highest existing entry number, given that entry {@code known} exists (or {@code known == 0}): gallops up
   * from {@code known}, then bisects. Entries are contiguous from 1, so "exists" is monotone in the number.
   */
  private long highest(Path log, long known) throws IOException {
    long step = 1;
    while (fs.exists(entry(log, known + step))) {
      known += step;
      step *= 2;
    }
    long missing = known + step;
    while (missing - known > 1) {
      long mid = (known + missing) >>> 1;
      if (fs.exists(entry(log, mid))) {
        known = mid;
      } else {
        missing = mid;
      }
    }
    return known;
  }

  /** Entry {@code seq} of a log, or null if it does not exist. */
  private RefLogEntry readEntry(Path log, long seq) throws IOException {
    Path p = entry(log, seq);
    byte[] line = null;
    if (!xattrsUnavailable) {
      try {
        line = fs.getXAttrs(p).get(ENTRY_ATTR);
      } catch (FileNotFoundException e) {
        return null;
      } catch (UnsupportedOperationException | IOException e) {
        noXattrs(e);
      }
    }
    if (line == null) {
      try (InputStream in = fs.open(p)) {
        line = in.readNBytes(16 * 1024 * 1024);
      } catch (FileNotFoundException e) {
        return null;
      }
    }
    int end = line.length;
    if (end > 0 && line[end - 1] == '\n') {
      end--;
    }
    RefLogEntry e = RefLogFormat.decode(line, 0, end);
    if (e == null) {
      throw new IOException("ref log entry " + p + " in " + uri + " is damaged: " + line.length
          + " bytes that are not a valid entry (CRC or JSON)");
    }
    return e;
  }

  private void noXattrs(Exception e) throws IOException {
    if (e instanceof FileNotFoundException f) {
      throw f;
    }
    if (e instanceof UnsupportedOperationException
        || String.valueOf(e.getMessage()).contains("XAttr") && String.valueOf(e.getMessage()).contains("disabled")) {
      LOG.debug("{}: extended attributes unavailable, ref entries go in file data: {}", uri, e.toString());
      xattrsUnavailable = true;
      return;
    }
    throw (IOException) e;
  }

  @Override
  public CasResult compareAndSet(String name, ChunkId expected, ChunkId next, RefLogEntry entry) throws IOException {
    ensureOpen();
    RefNames.checkRef(name);
    Objects.requireNonNull(entry, "entry");
    if (!Objects.equals(entry.oldId(), expected) || !Objects.equals(entry.newId(), next)) {
      throw new IllegalArgumentException("log entry " + entry + " does not describe the move of '" + name + "' from "
          + expected + " to " + next);
    }
    Head head = head(name);
    if (!Objects.equals(head.value(), expected)) {
      return CasResult.LOCK_FAILURE;
    }
    if (Objects.equals(head.value(), next)) {
      return CasResult.NO_CHANGE;
    }
    Path log = logDir(name);
    if (head.seq() == 0) {
      fs.mkdirs(log);
    }
    long seq = head.seq() + 1;
    Path temp = writeTemp(name, RefLogFormat.encode(entry));
    boolean won;
    try {
      won = fs.rename(temp, entry(log, seq));
    } catch (IOException | RuntimeException e) {
      try {
        fs.delete(temp, false);
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
    if (!won) {
      fs.delete(temp, false);
      if (!fs.exists(entry(log, seq))) {
        throw new IOException("could not move ref '" + name + "' in " + uri + ": rename of " + temp + " to "
            + entry(log, seq) + " returned false, and that entry does not exist");
      }
      return CasResult.LOCK_FAILURE;
    }
    updateHint(log, seq, next);
    if (expected == null) {
      return CasResult.NEW;
    }
    return next == null ? CasResult.DELETED : CasResult.UPDATED;
  }

  /** Writes a complete entry to a fresh temporary file: in an extended attribute of an empty file, or as data. */
  private Path writeTemp(String name, byte[] line) throws IOException {
    Path temp = new Path(tmp, "ref-" + Long.toHexString(ThreadLocalRandom.current().nextLong())
        + HdfsBackend.TEMP_SUFFIX);
    boolean inAttr = !xattrsUnavailable && line.length <= MAX_XATTR_ENTRY;
    try {
      try (FSDataOutputStream out = Durability.create(fs, temp, hsync && !inAttr)) {
        if (!inAttr) {
          out.write(line);
        }
      }
      if (inAttr) {
        try {
          fs.setXAttr(temp, ENTRY_ATTR, line);
        } catch (UnsupportedOperationException | IOException e) {
          noXattrs(e);
          fs.delete(temp, false);
          return writeTemp(name, line);
        }
      }
      return temp;
    } catch (IOException | RuntimeException e) {
      try {
        fs.delete(temp, false);
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  /**
   * Records the new highest entry in the log directory's hint. The move is already done and visible: a failure here
   * only makes later reads probe further, so it is logged at debug and not thrown (throwing would tell the caller a
   * move failed that succeeded).
   */
  private void updateHint(Path log, long seq, ChunkId value) {
    if (xattrsUnavailable) {
      return;
    }
    byte[] hint = (seq + " " + (value == null ? "-" : value.hex())).getBytes(StandardCharsets.US_ASCII);
    try {
      fs.setXAttr(log, HEAD_ATTR, hint);
    } catch (UnsupportedOperationException | IOException e) {
      LOG.debug("{}: could not update the head hint of {} to {}: {}", uri, log, seq, e.toString());
    }
  }

  @Override
  public List<String> list(String prefix) throws IOException {
    ensureOpen();
    String p = prefix == null ? "" : prefix;
    String base = walkBase(p);
    Path dir = base.isEmpty() ? refs : new Path(refs, base);
    List<String> names = new ArrayList<>();
    walk(dir, base, names);
    List<String> out = new ArrayList<>();
    for (String name : names) {
      if (name.startsWith(p) && RefNames.isValidRef(name) && head(name).value() != null) {
        out.add(name);
      }
    }
    out.sort(null);
    return out;
  }

  /** Collects the refs at or under {@code dir} (whose ref-name prefix is {@code name}): directories with a log. */
  private void walk(Path dir, String name, List<String> out) throws IOException {
    FileStatus[] children;
    try {
      children = fs.listStatus(dir);
    } catch (FileNotFoundException e) {
      return;
    }
    for (FileStatus c : children) {
      if (!c.isDirectory()) {
        continue;
      }
      String child = c.getPath().getName();
      if (child.equals(LOG_DIR)) {
        out.add(name);
      } else if (!child.startsWith("_") && !child.startsWith(".")) {
        walk(c.getPath(), name.isEmpty() ? child : name + "/" + child, out);
      }
    }
  }

  /** The ref-name prefix up to its last '/', when every part of it is a safe name; else the root. */
  private static String walkBase(String prefix) {
    int slash = prefix.lastIndexOf('/');
    if (slash <= 0) {
      return "";
    }
    for (String part : prefix.substring(0, slash).split("/", -1)) {
      if (!part.matches("[A-Za-z0-9][A-Za-z0-9._-]*")) {
        return "";
      }
    }
    return prefix.substring(0, slash);
  }

  @Override
  public List<RefLogEntry> log(String name) throws IOException {
    ensureOpen();
    RefNames.checkRef(name);
    Path log = logDir(name);
    long last = head(name).seq();
    List<RefLogEntry> out = new ArrayList<>();
    for (long seq = 1; seq <= last; seq++) {
      RefLogEntry e = readEntry(log, seq);
      if (e == null) {
        throw new IOException("ref log " + log + " in " + uri + " has no entry " + seq + " although entry " + last
            + " exists: entries are never removed, so the store was changed by hand");
      }
      out.add(e);
    }
    return out;
  }

  private void ensureOpen() {
    if (closed) {
      throw new IllegalStateException(uri + " is closed");
    }
  }

  @Override
  public void close() {
    closed = true;
  }
}
