package io.ferry.store;

import java.io.IOException;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A record store that forwards every call to another, for wrappers that change or watch a few calls (tests that
 * break a create or hold a renewal): a subclass overrides only those. {@link #createOwn} and {@link #readAll} are not
 * forwarded: they go through this store's {@link #create} and {@link #read}, so a subclass that changes a create
 * changes the creates of leases and of the small-chunk index, which call {@link #createOwn}.
 */
public abstract class ForwardingRecordStore implements RecordStore {
  /** The store every call goes to. */
  protected final RecordStore inner;

  protected ForwardingRecordStore(RecordStore inner) {
    this.inner = Objects.requireNonNull(inner, "inner");
  }

  @Override
  public String describe() {
    return inner.describe();
  }

  @Override
  public boolean create(String key, byte[] content) throws IOException {
    return inner.create(key, content);
  }

  @Override
  public void replace(String key, byte[] content) throws IOException {
    inner.replace(key, content);
  }

  @Override
  public Optional<byte[]> read(String key) throws IOException {
    return inner.read(key);
  }

  @Override
  public List<String> list(String prefix) throws IOException {
    return inner.list(prefix);
  }

  @Override
  public void delete(String key) throws IOException {
    inner.delete(key);
  }

  @Override
  public void close() throws IOException {
    inner.close();
  }
}
