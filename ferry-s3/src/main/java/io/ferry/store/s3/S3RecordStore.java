package io.ferry.store.s3;

import io.ferry.store.RecordStore;
import io.ferry.concurrent.Futures;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Future;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.s3.model.CommonPrefix;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * The records of an {@link S3Backend}: record {@code k} is the object {@code <prefix>/k}, so the keys under {@code
 * refs/} and {@code ref-names/} are the ref logs S3 stores have always had. Keys whose first segment is reserved
 * ({@link RecordStore#RESERVED}: {@code objects}, {@code tmp}, the marker) are refused and never listed.
 *
 * <ul>
 *   <li>{@link #create} = {@code PutObject} with {@code If-None-Match: *}; 412 means the record exists. Of any number
 *       of such puts of one key S3 lets exactly one succeed. If the answer to a successful put is lost and the SDK
 *       resends it, the resend answers 412: the record is whole but this call says {@code false} (see {@link
 *       RecordStore#create}).
 *   <li>{@link #replace} = a plain {@code PutObject}: atomic (no reader sees a prefix), last writer wins.
 *   <li>{@link #read} = {@code GetObject}, 404 = absent; {@link #readAll} fans out on the backend's pool.
 *   <li>{@link #list} = {@code ListObjectsV2} pages (1,000 keys each), in key order.
 *   <li>{@link #delete} = {@code DeleteObject}, which S3 answers alike whether or not the key existed.
 * </ul>
 *
 * <p>S3 is strongly consistent for these (since December 2020), so every call sees the effect of every call that
 * returned before it. Thread-safe.
 */
final class S3RecordStore implements RecordStore {
  private final S3Backend backend;

  S3RecordStore(S3Backend backend) {
    this.backend = backend;
  }

  @Override
  public String describe() {
    return backend.where();
  }

  private String key(String record) {
    return backend.location().key(RecordStore.checkKey(record));
  }

  @Override
  public boolean create(String record, byte[] content) throws IOException {
    backend.ensureOpen();
    String key = key(record);
    return backend.putIfAbsent(key, RecordStore.checkContent(record, content));
  }

  @Override
  public void replace(String record, byte[] content) throws IOException {
    backend.ensureOpen();
    String key = key(record);
    backend.put(key, RecordStore.checkContent(record, content));
  }

  @Override
  public Optional<byte[]> read(String record) throws IOException {
    backend.ensureOpen();
    return Optional.ofNullable(backend.getIfExists(key(record)));
  }

  @Override
  public List<Optional<byte[]>> readAll(List<String> records) throws IOException {
    if (records.size() <= 1) {
      return RecordStore.super.readAll(records);
    }
    List<Future<Optional<byte[]>>> reads = new ArrayList<>(records.size());
    try {
      for (String r : records) {
        reads.add(backend.pool().submit(() -> read(r)));
      }
      List<Optional<byte[]>> out = new ArrayList<>(records.size());
      for (Future<Optional<byte[]>> f : reads) {
        out.add(Futures.await(f, "reading records of " + backend.where()));
      }
      return out;
    } finally {
      reads.forEach(f -> f.cancel(true));
    }
  }

  @Override
  public List<String> list(String prefix) throws IOException {
    backend.ensureOpen();
    String root = backend.location().keyPrefix();
    List<String> keys = new ArrayList<>();
    int slash = prefix.indexOf('/');
    if (slash >= 0) {
      if (!RESERVED.contains(prefix.substring(0, slash))) {
        keys.addAll(keys(root + prefix, null).keys());
      }
    } else {
      Listing top = keys(root + prefix, "/");
      for (String k : top.keys()) {
        if (!RESERVED.contains(k.substring(root.length()))) {
          keys.add(k);
        }
      }
      for (String dir : top.dirs()) {
        String first = dir.substring(root.length(), dir.length() - 1);
        if (!RESERVED.contains(first)) {
          keys.addAll(keys(dir, null).keys());
        }
      }
    }
    List<String> out = new ArrayList<>(keys.size());
    for (String k : keys) {
      out.add(k.substring(root.length()));
    }
    out.sort(null);
    return out;
  }

  /** Keys, and with a delimiter the common prefixes, under a full key prefix. */
  private record Listing(List<String> keys, List<String> dirs) {}

  private Listing keys(String prefix, String delimiter) throws IOException {
    List<String> keys = new ArrayList<>();
    List<String> dirs = new ArrayList<>();
    String token = null;
    java.util.Set<String> seen = new java.util.HashSet<>();
    String previous = null;
    do {
      ListObjectsV2Response page;
      try {
        page = backend.s3().listObjectsV2(ListObjectsV2Request.builder().bucket(backend.location().bucket())
            .prefix(prefix).delimiter(delimiter).continuationToken(token).build());
      } catch (SdkException e) {
        throw backend.failure("LIST", prefix, e);
      }
      // the page's token first: a page that cannot be followed is said so before its keys are looked at
      String next = backend.nextPage(page, token, seen, prefix);
      for (S3Object o : page.contents()) {
        previous = backend.listedAfter(o.key(), previous, prefix);
        // a key ending with '/' is no record (a folder marker of the S3 console)
        if (!o.key().endsWith("/")) {
          keys.add(o.key());
        }
      }
      for (CommonPrefix p : page.commonPrefixes()) {
        dirs.add(backend.listedDirectory(p.prefix(), prefix));
      }
      token = next;
    } while (token != null);
    return new Listing(keys, dirs);
  }

  @Override
  public void delete(String record) throws IOException {
    backend.ensureOpen();
    String key = key(record);
    backend.deleteKey(key);
  }

  @Override
  public void close() {
    // the backend owns the client and the pool
  }
}
