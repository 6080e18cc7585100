package io.ferry.store.s3;

import io.ferry.transfer.Futures;

import io.ferry.chunk.ChunkId;
import io.ferry.error.InvalidInputException;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.RefStore;
import io.ferry.store.local.RefLogFormat;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * The refs of an {@link S3Backend}: every ref is a numbered log of immutable entries, and "the log is the ref".
 *
 * <pre>
 * refs/&lt;ref&gt;/log/00000000000000000001   first move   (body: a RefLogFormat line, then "nonce &lt;hex&gt;\n")
 * refs/&lt;ref&gt;/log/00000000000000000002   second move
 * refs/&lt;ref&gt;/tip                        hint "&lt;seq&gt; &lt;id or -&gt;\n": an entry that exists, and its value
 * ref-names/&lt;ref&gt;                        written once, before the first entry: what {@link #list} reads
 * </pre>
 *
 * <p>The value of a ref is the {@code new} id of its highest entry. A move from the value of entry {@code n} creates
 * entry {@code n + 1} with {@code If-None-Match: *}: S3 lets exactly one of any number of such puts succeed, and
 * entries are never changed or removed, so the numbers in use are always exactly {@code 1..N}. Finding {@code N}
 * starts from the highest entry this store instance saw, else from the tip, and probes forward (1, 2, 4... then
 * bisects); with an exact start that is one GET that answers 404. {@code docs/s3.md} argues why this is
 * linearizable: in short, an entry seen present and the next one seen absent within one call pin an instant inside
 * the call at which that entry was the last.
 *
 * <p>A put whose response was lost may be retried by the SDK and then answer 412 although it did create the entry;
 * the entry's body carries a random nonce, so such a 412 is recognized by reading the entry back and comparing.
 *
 * <p>Outcomes that change nothing ({@link CasResult#LOCK_FAILURE}, {@link CasResult#NO_CHANGE}) write nothing.
 * Thread-safe; any number of processes may share a store.
 */
final class S3RefStore implements RefStore {
  private static final Logger LOG = LoggerFactory.getLogger(S3RefStore.class);
  static final String REFS = "refs/";
  static final String NAMES = "ref-names/";
  private static final String LOG_DIR = "/log/";
  private static final String TIP = "/tip";
  private static final int SEQ_DIGITS = 20;
  private static final int CACHED_REFS = 1024;

  private final S3Backend backend;
  private final String bucket;
  private final String refsPrefix;
  private final String namesPrefix;
  /** The highest entry seen per ref: a start for the probe (entries never go away, so it stays a lower bound). */
  private final Map<String, Head> seen = new LinkedHashMap<>(64, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<String, Head> eldest) {
      return size() > CACHED_REFS;
    }
  };

  /** Entry {@code seq} (0: none) and the ref's value after it. */
  private record Head(long seq, ChunkId value) {}

  S3RefStore(S3Backend backend) {
    this.backend = backend;
    this.bucket = backend.location().bucket();
    this.refsPrefix = backend.location().key(REFS);
    this.namesPrefix = backend.location().key(NAMES);
  }

  String logKey(String name, long seq) {
    String digits = Long.toString(seq);
    return refsPrefix + name + LOG_DIR + "0".repeat(SEQ_DIGITS - digits.length()) + digits;
  }

  String tipKey(String name) {
    return refsPrefix + name + TIP;
  }

  String nameKey(String name) {
    return namesPrefix + name;
  }

  @Override
  public Optional<ChunkId> get(String name) throws IOException {
    backend.ensureOpen();
    RefNames.checkRef(name);
    return Optional.ofNullable(head(name).value());
  }

  @Override
  public CasResult compareAndSet(String name, ChunkId expected, ChunkId next, RefLogEntry entry) throws IOException {
    backend.ensureOpen();
    RefNames.checkRef(name);
    Objects.requireNonNull(entry, "entry");
    if (!Objects.equals(entry.oldId(), expected) || !Objects.equals(entry.newId(), next)) {
      throw new IllegalArgumentException("log entry " + entry + " does not describe the move of '" + name + "' from "
          + expected + " to " + next);
    }
    Head h = head(name);
    if (!Objects.equals(h.value(), expected)) {
      return CasResult.LOCK_FAILURE;
    }
    if (Objects.equals(h.value(), next)) {
      return CasResult.NO_CHANGE;
    }
    if (h.seq() == 0) {
      backend.putIfAbsent(nameKey(name), new byte[0]);
    }
    long seq = h.seq() + 1;
    String key = logKey(name, seq);
    byte[] body = encode(entry);
    if (!backend.putIfAbsent(key, body)) {
      byte[] there = backend.getIfExists(key);
      if (!Arrays.equals(there, body)) {
        return CasResult.LOCK_FAILURE;
      }
      LOG.debug("{}: 412 on a retried put that had created the entry", key);
    }
    Head now = new Head(seq, next);
    remember(name, now);
    writeTip(name, now);
    if (expected == null) {
      return CasResult.NEW;
    }
    return next == null ? CasResult.DELETED : CasResult.UPDATED;
  }

  /** Best effort: the tip is a hint; a failure to write it leaves readers probing a little further. */
  private void writeTip(String name, Head h) {
    String text = h.seq() + " " + (h.value() == null ? "-" : h.value().hex()) + "\n";
    try {
      backend.put(tipKey(name), text.getBytes(StandardCharsets.US_ASCII));
    } catch (IOException | RuntimeException e) {
      LOG.debug("could not write the tip of {} in {}", name, backend.where(), e);
    }
  }

  private void remember(String name, Head h) {
    synchronized (seen) {
      Head old = seen.get(name);
      if (old == null || old.seq() < h.seq()) {
        seen.put(name, h);
      }
    }
  }

  /** The ref's highest entry now (linearizable: see the class comment). */
  private Head head(String name) throws IOException {
    Head start;
    synchronized (seen) {
      start = seen.get(name);
    }
    if (start == null) {
      start = readTip(name);
    }
    long lo = start.seq();
    ChunkId loValue = start.value();
    long hi;
    long step = 1;
    while (true) {
      RefLogEntry e = readEntry(name, lo + step);
      if (e == null) {
        hi = lo + step;
        break;
      }
      lo += step;
      loValue = e.newId();
      step = Math.min(step * 2, 1L << 40);
    }
    while (hi - lo > 1) {
      long mid = lo + (hi - lo) / 2;
      RefLogEntry e = readEntry(name, mid);
      if (e == null) {
        hi = mid;
      } else {
        lo = mid;
        loValue = e.newId();
      }
    }
    Head h = new Head(lo, loValue);
    if (lo > 0) {
      remember(name, h);
    }
    return h;
  }

  private Head readTip(String name) throws IOException {
    byte[] tip = backend.getIfExists(tipKey(name));
    if (tip != null) {
      String[] f = new String(tip, StandardCharsets.US_ASCII).trim().split(" ");
      try {
        if (f.length == 2) {
          long seq = Long.parseLong(f[0]);
          ChunkId value = f[1].equals("-") ? null : ChunkId.parse(f[1]);
          if (seq > 0) {
            return new Head(seq, value);
          }
        }
      } catch (IllegalArgumentException unreadable) {
        LOG.debug("ignoring the unreadable tip of {}", name);
      }
    }
    return new Head(0, null);
  }

  private RefLogEntry readEntry(String name, long seq) throws IOException {
    String key = logKey(name, seq);
    byte[] body = backend.getIfExists(key);
    return body == null ? null : decode(body, key);
  }

  private byte[] encode(RefLogEntry entry) {
    byte[] line = RefLogFormat.encode(entry);
    byte[] nonce = ("nonce " + Long.toHexString(ThreadLocalRandom.current().nextLong())
        + Long.toHexString(ThreadLocalRandom.current().nextLong()) + "\n").getBytes(StandardCharsets.US_ASCII);
    byte[] body = Arrays.copyOf(line, line.length + nonce.length);
    System.arraycopy(nonce, 0, body, line.length, nonce.length);
    return body;
  }

  private RefLogEntry decode(byte[] body, String key) throws IOException {
    int nl = 0;
    while (nl < body.length && body[nl] != '\n') {
      nl++;
    }
    RefLogEntry e = nl < body.length ? RefLogFormat.decode(body, 0, nl) : null;
    if (e == null) {
      throw new IOException("ref log entry " + backend.location().describeKey(key) + " in " + backend.where()
          + " is damaged: its first line is not a valid entry (CRC or JSON)");
    }
    return e;
  }

  @Override
  public List<String> list(String prefix) throws IOException {
    backend.ensureOpen();
    String p = prefix == null ? "" : prefix;
    List<String> names = new ArrayList<>();
    for (String key : keys(namesPrefix + p)) {
      String name = key.substring(namesPrefix.length());
      if (RefNames.isValidRef(name)) {
        names.add(name);
      }
    }
    List<Future<Optional<ChunkId>>> values = new ArrayList<>();
    try {
      for (String name : names) {
        values.add(backend.pool().submit(() -> get(name)));
      }
      List<String> out = new ArrayList<>();
      for (int i = 0; i < names.size(); i++) {
        if (Futures.await(values.get(i), "listing refs").isPresent()) {
          out.add(names.get(i));
        }
      }
      out.sort(null);
      return out;
    } finally {
      values.forEach(f -> f.cancel(true));
    }
  }

  @Override
  public List<RefLogEntry> log(String name) throws IOException {
    backend.ensureOpen();
    RefNames.checkRef(name);
    String dir = refsPrefix + name + LOG_DIR;
    List<Long> seqs = new ArrayList<>();
    for (String key : keys(dir)) {
      String rest = key.substring(dir.length());
      if (rest.length() == SEQ_DIGITS && rest.chars().allMatch(c -> c >= '0' && c <= '9')) {
        seqs.add(Long.parseLong(rest));
      }
    }
    seqs.sort(null);
    for (int i = 0; i < seqs.size(); i++) {
      if (seqs.get(i) != i + 1) {
        throw new IOException("ref log of '" + name + "' in " + backend.where() + " is damaged: entry " + (i + 1)
            + " is missing (found " + seqs.get(i) + " instead)");
      }
    }
    List<Future<RefLogEntry>> entries = new ArrayList<>();
    try {
      for (long seq : seqs) {
        entries.add(backend.pool().submit(() -> {
          RefLogEntry e = readEntry(name, seq);
          if (e == null) {
            throw new IOException("ref log entry " + logKey(name, seq) + " in " + backend.where()
                + " was listed but is gone");
          }
          return e;
        }));
      }
      List<RefLogEntry> out = new ArrayList<>(seqs.size());
      for (Future<RefLogEntry> f : entries) {
        out.add(Futures.await(f, "reading the log of " + name));
      }
      if (!seqs.isEmpty()) {
        remember(name, new Head(seqs.size(), out.get(out.size() - 1).newId()));
      }
      return out;
    } finally {
      entries.forEach(f -> f.cancel(true));
    }
  }

  /** Every key under a prefix, in key order. */
  private List<String> keys(String prefix) throws IOException {
    List<String> out = new ArrayList<>();
    String token = null;
    do {
      ListObjectsV2Response page;
      try {
        page = backend.s3().listObjectsV2(ListObjectsV2Request.builder().bucket(bucket).prefix(prefix)
            .continuationToken(token).build());
      } catch (SdkException e) {
        throw backend.failure("LIST", prefix, e);
      }
      for (S3Object o : page.contents()) {
        out.add(o.key());
      }
      token = Boolean.TRUE.equals(page.isTruncated()) ? page.nextContinuationToken() : null;
    } while (token != null);
    return out;
  }

  @Override
  public void close() {
    // the backend owns the client and the pool
  }
}
