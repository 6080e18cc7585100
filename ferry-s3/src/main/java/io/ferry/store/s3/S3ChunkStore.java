package io.ferry.store.s3;

import io.ferry.concurrent.Futures;

import io.ferry.id.ChunkId;
import io.ferry.error.MissingObjectException;
import io.ferry.store.ChunkStore;
import io.ferry.store.StoredObject;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.model.GetObjectRequest;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectRequest;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * The objects of an {@link S3Backend}: one S3 object per Ferry object, key {@code <prefix>/objects/<64 hex>}.
 *
 * <ul>
 *   <li>{@link #put}: one {@code PutObject} with {@code If-None-Match: *} and the body's CRC32C, which the store
 *       checks before it accepts the object (a body damaged on the way is refused and sent again). S3 puts are atomic
 *       and durable when they return, so readers never see a prefix. 412 means the object exists: {@code false}.
 *       If the response to a put that succeeded is lost and the SDK sends it again, the retry gets 412 and the put
 *       reports {@code false}: the object is whole, only the "created by this call" bit is lost (a failed push then
 *       leaves it for gc rather than deleting it).
 *   <li>{@link #read}: ranged GETs. Reads longer than one part ({@code s3.part-size}, 8 MiB) are split into parts:
 *       the first (in the caller's thread) and the last (in the store's pool) into arrays of their own, then, once
 *       they showed the object reaches the end of the range, the others at once, each written straight into the
 *       result's array. A body that ends early or breaks off is fetched again, by a new request, with
 *       exponential backoff and full jitter; the SDK retries 5xx, throttling and connection errors the same way
 *       before any body is read. Both draw on one budget: {@code s3.max-attempts} requests a part in all.
 *   <li>{@link #get}: asks for the first part; the {@code Content-Range} of the answer gives the object's size, then
 *       the last part shows the object reaches it, and the other parts follow in parallel, each into an array of its
 *       own; the result is allocated once all came. One request for objects up to one part.
 *   <li>The parts of one read must come from one object: same size and ETag, and on endpoints that send no ETag,
 *       same {@code Last-Modified} (which tells apart only objects put in different seconds). If they do not (the
 *       object was put again with other bytes meanwhile), the read is made again, whole, up to three times.
 *   <li>{@link #missing}: parallel {@code HeadObject}s on the store's pool.
 *   <li>{@link #list}: {@code ListObjectsV2}, 1,000 keys a page, streamed.
 *   <li>{@link #deleteIfPresent} (gc): {@code HeadObject}, then {@code DeleteObject} with {@code If-Match: *}, so
 *       that of two gcs deleting one object only the one that removed it counts it.
 * </ul>
 *
 * <p>Results of reads are heap buffers. Thread-safe.
 */
final class S3ChunkStore implements ChunkStore {
  static final String OBJECTS = "objects/";
  /**
   * How many times a read is made, whole, while its parts come from different objects (the object was deleted and
   * put again with other bytes while it was read, by a gc and a push), before it fails.
   */
  private static final int READ_ROUNDS = 3;

  private final S3Backend backend;
  private final String bucket;
  private final String objectsPrefix;

  S3ChunkStore(S3Backend backend) {
    this.backend = backend;
    this.bucket = backend.location().bucket();
    this.objectsPrefix = backend.location().key(OBJECTS);
  }

  String key(ChunkId id) {
    return objectsPrefix + id.hex();
  }

  @Override
  public String describe() {
    return backend.where();
  }

  @Override
  public boolean contains(ChunkId id) throws IOException {
    backend.ensureOpen();
    return present(id);
  }

  /** Whether the object exists; a 404 is checked against the bucket's existence (see {@link #head}). */
  private boolean present(ChunkId id) throws IOException {
    if (head(id) >= 0) {
      return true;
    }
    backend.checkBucket("HEAD", key(id));
    return false;
  }

  /**
   * The object's size, or -1 if S3 answered 404: the object does not exist, or the bucket does not (a HEAD's answer
   * has no body to tell which; {@link S3Backend#checkBucket} does).
   */
  private long head(ChunkId id) throws IOException {
    String key = key(id);
    try {
      return backend.s3().headObject(HeadObjectRequest.builder().bucket(bucket).key(key).build()).contentLength();
    } catch (S3Exception e) {
      if (e.statusCode() == 404) {
        return -1;
      }
      throw backend.failure("HEAD", key, e);
    } catch (SdkException e) {
      throw backend.failure("HEAD", key, e);
    }
  }

  @Override
  public List<ChunkId> missing(Collection<ChunkId> ids) throws IOException {
    backend.ensureOpen();
    List<ChunkId> list = new ArrayList<>(ids);
    if (list.size() <= 1) {
      return ChunkStore.super.missing(list);
    }
    List<Future<Boolean>> found = new ArrayList<>(list.size());
    try {
      for (ChunkId id : list) {
        found.add(backend.pool().submit(() -> head(id) >= 0));
      }
      List<ChunkId> out = new ArrayList<>();
      for (int i = 0; i < list.size(); i++) {
        if (!Futures.await(found.get(i), "looking up objects in " + describe())) {
          out.add(list.get(i));
        }
      }
      if (!out.isEmpty()) {
        backend.checkBucket("HEAD", key(out.get(0)));
      }
      return out;
    } finally {
      for (Future<Boolean> f : found) {
        f.cancel(true);
      }
    }
  }

  @Override
  public boolean put(ChunkId id, ByteBuffer... parts) throws IOException {
    backend.ensureOpen();
    String key = key(id);
    ByteBuffer[] body = new ByteBuffer[parts.length];
    long length = 0;
    for (int i = 0; i < parts.length; i++) {
      body[i] = parts[i].duplicate();
      length += body[i].remaining();
    }
    String crc = Checksums.crc32cBase64(body);
    try {
      backend.s3().putObject(PutObjectRequest.builder().bucket(bucket).key(key).ifNoneMatch("*")
              .contentLength(length).checksumCRC32C(crc).contentType("application/octet-stream").build(),
          RequestBody.fromContentProvider(() -> new BuffersInputStream(body), length, "application/octet-stream"));
    } catch (S3Exception e) {
      if (e.statusCode() == 412) {
        return false;
      }
      throw backend.failure("PUT", key, e);
    } catch (SdkException e) {
      throw backend.failure("PUT", key, e);
    }
    for (ByteBuffer p : parts) {
      p.position(p.limit());
    }
    return true;
  }

  @Override
  public long size(ChunkId id) throws IOException {
    backend.ensureOpen();
    long size = head(id);
    if (size < 0) {
      backend.checkBucket("HEAD", key(id));
      throw new MissingObjectException(id, describe());
    }
    return size;
  }

  @Override
  public ByteBuffer read(ChunkId id, long offset, int length) throws IOException {
    backend.ensureOpen();
    if (offset < 0 || length < 0) {
      throw new IllegalArgumentException("negative range: offset " + offset + ", length " + length + " of " + id);
    }
    if (length == 0 || offset > Long.MAX_VALUE - length) {
      long size = size(id);
      if (offset > size || length > size - offset) {
        throw pastTheEnd(id, offset, length, size);
      }
      return ByteBuffer.allocate(0);
    }
    int partSize = backend.settings().partSize();
    for (int round = 1; ; round++) {
      List<Future<Fetched>> rest = new ArrayList<>();
      String changed;
      byte[] result = null;
      try {
        if (length <= partSize) {
          byte[] out = new byte[length];
          checkEnd(id, offset, length, fetch(id, offset, length, out, 0).size());
          return ByteBuffer.wrap(out);
        }
        // The result is allocated once the endpoint showed that the object reaches the end of the range: its first
        // part (with the object's size) and its last come first, each into an array of its own, then the parts
        // between go straight into the result. A caller's length past the end of a small object allocated it all
        // before any answer, and so did a size an endpoint claimed but did not have.
        int lastFrom = (length - 1) / partSize * partSize;
        Future<Fetched> lastPart = backend.pool().submit(() -> fetch(id, offset + lastFrom, length - lastFrom, null,
            lastFrom));
        rest.add(lastPart);
        Fetched first = fetch(id, offset, partSize, null, 0);
        checkEnd(id, offset, length, first.size());
        Fetched last = Futures.await(lastPart, "reading " + id + " from " + describe());
        changed = change(first, last);
        if (changed == null) {
          result = new byte[length];
          System.arraycopy(first.bytes(), 0, result, 0, partSize);
          System.arraycopy(last.bytes(), 0, result, lastFrom, length - lastFrom);
          rest.clear();
          for (int p = partSize; p < lastFrom; p += partSize) {
            int from = p;
            byte[] into = result;
            rest.add(backend.pool().submit(() -> fetch(id, offset + from, partSize, into, from)));
          }
          changed = awaitParts(id, first, rest, null);
        }
      } finally {
        rest.forEach(f -> f.cancel(true));
      }
      if (changed == null) {
        return ByteBuffer.wrap(result);
      }
      checkRound(id, round, changed);
    }
  }

  /**
   * Waits for the parts fetched in parallel; {@code changed} if not null, else null if every part came from the object
   * the first part came from, else how one differs.
   */
  private String awaitParts(ChunkId id, Fetched first, List<Future<Fetched>> rest, String changed) throws IOException {
    for (Future<Fetched> f : rest) {
      Fetched part = Futures.await(f, "reading " + id + " from " + describe());
      changed = changed != null ? changed : change(first, part);
    }
    return changed;
  }

  /**
   * Null if a part came whole from the object the first part came from (same size and ETag, and when the endpoint
   * sent no ETag, same Last-Modified), else how they differ.
   */
  private static String change(Fetched first, Fetched part) {
    if (!part.whole()) {
      return "a part found " + (part.size() < 0 ? "no object" : "an object of " + part.size() + " bytes, too short"
          + " for its range,") + " where the first found " + first.size() + " bytes (ETag " + first.etag() + ")";
    }
    if (first.size() == part.size() && java.util.Objects.equals(first.etag(), part.etag())
        && (first.etag() != null || java.util.Objects.equals(first.modified(), part.modified()))) {
      return null;
    }
    return "its parts came from objects of " + first.size() + " bytes (ETag " + first.etag() + ", Last-Modified "
        + first.modified() + ") and " + part.size() + " bytes (ETag " + part.etag() + ", Last-Modified "
        + part.modified() + ")";
  }

  private void checkRound(ChunkId id, int round, String changed) throws IOException {
    if (round >= READ_ROUNDS) {
      throw new IOException("object " + id + " in " + describe() + " changed while it was read, " + READ_ROUNDS
          + " times: " + changed);
    }
  }

  /** One request for the first part; its answer gives the size, then the other parts go in parallel. */
  @Override
  public ByteBuffer get(ChunkId id) throws IOException {
    backend.ensureOpen();
    int partSize = backend.settings().partSize();
    for (int round = 1; ; round++) {
      Fetched first = fetch(id, 0, partSize, null, 0);
      if (first.size() > Integer.MAX_VALUE - 64) {
        throw new IOException("object " + id + " in " + describe() + " is " + first.size()
            + " bytes, too big for one buffer");
      }
      int size = (int) first.size();
      if (size <= partSize) {
        return ByteBuffer.wrap(first.bytes(), 0, size).slice();
      }
      // The size is only what the first answer says: the last part comes first, to show that the object reaches
      // that far, before the parts between are asked for; each part comes into an array of its own, and the whole is
      // allocated once every part has come. An endpoint that claims more than it sends costs no more memory and
      // requests than it sent (a Content-Range claiming 2 GiB allocated 2 GiB at once, and asked for 32,767 parts).
      List<Future<Fetched>> rest = new ArrayList<>();
      List<Fetched> parts = new ArrayList<>();
      String changed;
      try {
        int lastFrom = (size - 1) / partSize * partSize;
        Fetched last = fetch(id, lastFrom, size - lastFrom, null, lastFrom);
        changed = change(first, last);
        for (int p = partSize; p < lastFrom && changed == null; p += partSize) {
          int from = p;
          rest.add(backend.pool().submit(() -> fetch(id, from, partSize, null, from)));
        }
        for (Future<Fetched> f : rest) {
          Fetched part = Futures.await(f, "reading " + id + " from " + describe());
          changed = changed != null ? changed : change(first, part);
          parts.add(part);
        }
        parts.add(last);
      } finally {
        rest.forEach(f -> f.cancel(true));
      }
      if (changed == null) {
        byte[] out = new byte[size];
        System.arraycopy(first.bytes(), 0, out, 0, partSize);
        for (int i = 0; i < parts.size(); i++) {
          byte[] b = parts.get(i).bytes();
          System.arraycopy(b, 0, out, partSize * (i + 1), b.length);
          parts.set(i, null);
        }
        return ByteBuffer.wrap(out);
      }
      checkRound(id, round, changed);
    }
  }

  /**
   * What one ranged GET brought: the object's total size, its ETag and Last-Modified (each null if the endpoint sent
   * none) and, when no target array was given, the bytes.
   */
  private record Fetched(long size, byte[] bytes, String etag, java.time.Instant modified, boolean whole) {
    Fetched(long size, byte[] bytes, String etag, java.time.Instant modified) {
      this(size, bytes, etag, modified, true);
    }

    /** A later part that found the object shorter than its range, or gone ({@code size} -1). */
    static Fetched cut(long size, String etag) {
      return new Fetched(size, null, etag, null, false);
    }
  }

  /**
   * Fetches {@code [offset, offset + length)} of the object into {@code out[at...]}, or into a new array when {@code
   * out} is null (then, for the first part, fewer bytes may come, if the object is shorter). Bodies that break off
   * are fetched again. A later part of a read ({@code at > 0}, whose range lies within the size the first part found)
   * that finds the object shorter or gone says so ({@link Fetched#cut}) rather than failing: the object changed while
   * it was read (or the first answer's size was wrong), and the read is made again.
   */
  private Fetched fetch(ChunkId id, long offset, int length, byte[] out, int at) throws IOException {
    String key = key(id);
    String range = "bytes=" + offset + "-" + (offset + length - 1);
    int attempts = backend.settings().maxAttempts();
    java.util.concurrent.atomic.AtomicInteger used = new java.util.concurrent.atomic.AtomicInteger();
    while (true) {
      ResponseInputStream<GetObjectResponse> in;
      try {
        in = backend.s3().getObject(GetObjectRequest.builder().bucket(bucket).key(key).range(range)
            .overrideConfiguration(backend.attemptsLeft(used)).build());
      } catch (S3Exception e) {
        if (e.statusCode() == 404 && !S3Backend.noSuchBucket(e)) {
          if (at > 0) {
            return Fetched.cut(-1, null);
          }
          throw new MissingObjectException(id, describe());
        }
        if (e.statusCode() == 416) {
          long size = head(id);
          if (at > 0) {
            return Fetched.cut(size, null);
          }
          if (size < 0) {
            throw new MissingObjectException(id, describe());
          }
          if (out == null && offset == 0 && size == 0) {
            return new Fetched(0, new byte[0], null, null);
          }
          throw pastTheEnd(id, offset, length, size);
        }
        throw backend.failure("GET " + range + " of", key, e);
      } catch (SdkException e) {
        throw backend.failure("GET " + range + " of", key, e);
      }
      GetObjectResponse r = in.response();
      long total;
      long expected;
      try {
        total = totalSize(r, range, key);
        expected = Math.min((long) length, Math.max(0, total - offset));
        if (r.contentLength() != null && r.contentLength() != expected && (out == null || expected == length)) {
          throw new IOException("GET " + range + " of " + backend.location().describeKey(key) + " answered "
              + r.contentLength() + " bytes, expected " + expected + " (Content-Range " + r.contentRange() + ")");
        }
        checkStart(r.contentRange(), offset, expected, range, key);
      } catch (IOException e) {
        abortQuietly(in);
        throw e;
      }
      if ((out != null || at > 0) && expected < length) {
        abortQuietly(in);
        if (at > 0) {
          return Fetched.cut(total, r.eTag());
        }
        throw pastTheEnd(id, offset, length, total);
      }
      byte[] target = out != null ? out : new byte[(int) expected];
      int base = out != null ? at : 0;
      try {
        int n = readWithin(in, target, base, (int) expected);
        if (n < expected) {
          throw new EOFException("the body ended after " + n + " of " + expected + " bytes");
        }
        in.close();
        return new Fetched(total, out != null ? null : target, r.eTag(), r.lastModified());
      } catch (IOException | SdkException e) {
        abortQuietly(in);
        if (used.get() >= attempts || backend.isClosed()) {
          throw backend.failure("GET " + range + " of", key, e);
        }
      }
      backoff(used.get(), key);
    }
  }

  /** Bytes read at a time from a body, between looks at its deadline. */
  private static final int SLICE = 64 << 10;

  /**
   * Reads {@code length} bytes of a body into {@code target[at...]}, or fewer if it ends first, within the time the
   * body may take at {@code s3.min-rate} (plus one socket timeout): the socket timeout alone bounds each wait, and a
   * body trickled a byte per timeout would take days for a part.
   *
   * @throws IOException when the deadline passed (the attempt fails, and the read is made again)
   */
  private int readWithin(java.io.InputStream in, byte[] target, int at, int length) throws IOException {
    S3Settings s = backend.settings();
    long start = System.nanoTime();
    long allowed = s.minRate() == 0 ? Long.MAX_VALUE
        : s.socketTimeout().toNanos() + (long) (length * 1e9 / s.minRate());
    int done = 0;
    while (done < length) {
      int n = in.read(target, at + done, Math.min(SLICE, length - done));
      if (n < 0) {
        break;
      }
      done += n;
      long took = System.nanoTime() - start;
      if (done < length && took > allowed) {
        throw new IOException("the body came slower than " + S3Settings.MIN_RATE + " (" + s.minRate()
            + " bytes/s) allows: " + done + " of " + length + " bytes in " + took / 1_000_000 + " ms");
      }
    }
    return done;
  }

  private static final java.util.regex.Pattern CONTENT_RANGE =
      java.util.regex.Pattern.compile("\\s*bytes[ =]?\\s*(\\d+)-(\\d+)/.*");

  /**
   * Fails if a {@code Content-Range} says the body is another range than the one asked for ({@code bytes a-b/size}
   * with {@code a} not {@code offset}): a server, or a cache before it, that answered so had those bytes written
   * where the asked range belongs.
   */
  private void checkStart(String contentRange, long offset, long expected, String range, String key)
      throws IOException {
    java.util.regex.Matcher m = contentRange == null ? null : CONTENT_RANGE.matcher(contentRange);
    if (m == null || !m.matches() || expected == 0) {
      return;
    }
    String asked = offset + "-" + (offset + expected - 1);
    if (!(m.group(1) + "-" + m.group(2)).equals(asked)) {
      throw new IOException("GET " + range + " of " + backend.location().describeKey(key) + " at endpoint "
          + backend.endpointName() + " answered Content-Range " + contentRange.trim() + ", not the range asked for ("
          + asked + "); is a cache or proxy before the endpoint serving other ranges?");
    }
  }

  /** The object's size, from the answer's {@code Content-Range} (or, to a GET that was not ranged, its length). */
  private long totalSize(GetObjectResponse r, String range, String key) throws IOException {
    String cr = r.contentRange();
    String answered = "GET " + range + " of " + backend.location().describeKey(key) + " at endpoint "
        + backend.endpointName() + " answered ";
    if (cr != null) {
      int slash = cr.lastIndexOf('/');
      if (slash > 0 && !cr.endsWith("*")) {
        try {
          return Long.parseLong(cr.substring(slash + 1).trim());
        } catch (NumberFormatException e) {
          // fall through to the error below
        }
      }
      throw new IOException(answered + "Content-Range '" + cr + "', which does not give the object's size");
    }
    if (r.contentLength() != null) {
      return r.contentLength();
    }
    throw new IOException(answered + "neither Content-Range nor Content-Length");
  }

  private void backoff(int attempt, String key) throws IOException {
    long base = backend.settings().backoff().toMillis();
    long cap = Math.min(10_000, base << Math.min(attempt, 16));
    long sleep = ThreadLocalRandom.current().nextLong(cap + 1);
    try {
      TimeUnit.MILLISECONDS.sleep(sleep);
    } catch (InterruptedException e) {
      throw S3Backend.interrupted("waiting to fetch " + key + " again", e);
    }
  }

  private static void abortQuietly(ResponseInputStream<?> in) {
    try {
      in.abort();
    } catch (RuntimeException ignored) {
      // the connection is dropped either way
    }
  }

  private void checkEnd(ChunkId id, long offset, int length, long size) throws EOFException {
    if (offset + length > size) {
      throw pastTheEnd(id, offset, length, size);
    }
  }

  private EOFException pastTheEnd(ChunkId id, long offset, long length, long size) {
    return new EOFException("object " + id + " in " + describe() + ": range [" + offset + ", "
        + (offset + length) + ") runs past the end of the object (" + size + " bytes)");
  }

  @Override
  public void list(Consumer<StoredObject> sink) throws IOException {
    listKeys("", o -> {
      if (o.size() == null || o.size() < 0 || o.lastModified() == null) {
        throw new IOException("LIST " + backend.location().describeKey(objectsPrefix) + " at endpoint "
            + backend.endpointName() + " listed the key " + backend.location().describeKey(o.key())
            + " without its size or its time of modification (size " + o.size() + ", LastModified "
            + o.lastModified() + "), which gc needs; the endpoint does not answer ListObjectsV2 as S3 does");
      }
      sink.accept(new StoredObject(ChunkId.parse(o.key().substring(objectsPrefix.length())), o.size(),
          o.lastModified()));
    });
  }

  /** Lists the keys under {@code objects/} that start with the prefix: S3 lists by any key prefix. */
  @Override
  public boolean listIds(String hexPrefix, Consumer<ChunkId> sink) throws IOException {
    listKeys(hexPrefix, o -> sink.accept(ChunkId.parse(o.key().substring(objectsPrefix.length()))));
    return true;
  }

  /** What is done with each listed object. */
  private interface Listed {
    void accept(S3Object o) throws IOException;
  }

  /** Lists the objects whose key is {@code objects/} then a chunk id starting with {@code hexPrefix}, page by page. */
  private void listKeys(String hexPrefix, Listed each) throws IOException {
    backend.ensureOpen();
    String prefix = objectsPrefix + hexPrefix;
    String token = null;
    String previous = null;
    java.util.Set<String> seen = new java.util.HashSet<>();
    do {
      ListObjectsV2Response page;
      try {
        page = backend.s3().listObjectsV2(ListObjectsV2Request.builder().bucket(bucket).prefix(prefix)
            .continuationToken(token).build());
      } catch (SdkException e) {
        throw backend.failure("LIST", prefix, e);
      }
      // the page's token first: a page that cannot be followed is said so before its keys are looked at
      String next = backend.nextPage(page, token, seen, prefix);
      for (S3Object o : page.contents()) {
        previous = backend.listedAfter(o.key(), previous, prefix);
        if (ChunkId.isValid(o.key().substring(objectsPrefix.length()))) {
          each.accept(o);
        }
      }
      token = next;
    } while (token != null);
  }

  @Override
  public void delete(ChunkId id) throws IOException {
    backend.ensureOpen();
    String key = key(id);
    backend.deleteKey(key);
  }

  /**
   * A {@code HeadObject}, then a {@code DeleteObject} with {@code If-Match: *} if the object was there (see {@link
   * S3Backend#deleteKeyIfPresent}). The conditional delete alone tells on S3, but S3Proxy and other endpoints carry
   * out a conditional delete of an absent key and answer 204 as for a present one; the HEAD tells there, except
   * when two deletes run between one's HEAD and its DELETE.
   */
  @Override
  public boolean deleteIfPresent(ChunkId id) throws IOException {
    backend.ensureOpen();
    return present(id) && backend.deleteKeyIfPresent(key(id));
  }

  /**
   * What gc should know about a bucket with versioning ({@code GetBucketVersioning}): there a delete only adds a
   * delete marker, and the object's bytes stay stored, and billed, as a noncurrent version until a lifecycle rule
   * expires it; with versioning suspended, so do the objects put while it was enabled. Empty for a bucket that never
   * had versioning, and when the request fails (credentials without {@code s3:GetBucketVersioning}, an endpoint that
   * does not implement it): the caveat is advice, and gc deletes the same either way.
   */
  @Override
  public java.util.Optional<String> deletionCaveat() {
    backend.ensureOpen();
    software.amazon.awssdk.services.s3.model.BucketVersioningStatus status;
    try {
      status = backend.s3().getBucketVersioning(r -> r.bucket(bucket)).status();
    } catch (SdkException e) {
      return java.util.Optional.empty();
    }
    String what = switch (status == null ? "" : status.toString()) {
      case "Enabled" -> "gc's deletes only add delete markers: the objects it removes stay stored (and billed) as"
          + " noncurrent versions";
      case "Suspended" -> "the objects put while versioning was enabled stay stored (and billed) as noncurrent"
          + " versions when gc deletes them";
      default -> null;
    };
    if (what == null) {
      return java.util.Optional.empty();
    }
    return java.util.Optional.of("bucket '" + bucket + "' of " + describe() + " has versioning " + status + ": "
        + what + "; to free their space, add a lifecycle rule to the bucket that expires noncurrent versions"
        + " (NoncurrentVersionExpiration) and removes expired delete markers, for the prefix '"
        + backend.location().keyPrefix() + "' (see docs/s3.md)");
  }

  @Override
  public void close() {
    // the backend owns the client and the pool
  }

  /** The remaining bytes of some buffers as one stream, without copying them; a new one for every attempt. */
  static final class BuffersInputStream extends InputStream {
    private final ByteBuffer[] parts;
    private int i;

    BuffersInputStream(ByteBuffer[] parts) {
      this.parts = new ByteBuffer[parts.length];
      for (int k = 0; k < parts.length; k++) {
        this.parts[k] = parts[k].duplicate();
      }
    }

    private ByteBuffer current() {
      while (i < parts.length && !parts[i].hasRemaining()) {
        i++;
      }
      return i < parts.length ? parts[i] : null;
    }

    @Override
    public int read() {
      ByteBuffer b = current();
      return b == null ? -1 : b.get() & 0xff;
    }

    @Override
    public int read(byte[] dst, int off, int len) {
      if (len == 0) {
        return 0;
      }
      ByteBuffer b = current();
      if (b == null) {
        return -1;
      }
      int n = Math.min(len, b.remaining());
      b.get(dst, off, n);
      return n;
    }

    @Override
    public int available() {
      ByteBuffer b = current();
      return b == null ? 0 : b.remaining();
    }
  }
}
