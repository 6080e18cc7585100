package io.ferry.lease;

import io.ferry.store.RecordStore;
import java.io.IOException;
import java.util.List;
import java.util.Optional;

/** A record store passing every call to another, for tests to override the calls they watch or break. */
class ForwardingRecordStore implements RecordStore {
  final RecordStore inner;

  ForwardingRecordStore(RecordStore inner) {
    this.inner = inner;
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
  public void close() {}
}
