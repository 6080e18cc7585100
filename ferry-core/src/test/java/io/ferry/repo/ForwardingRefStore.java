package io.ferry.repo;

import io.ferry.id.ChunkId;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefStore;
import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * A ref store that hands every call to another; tests override {@link #compareAndSet} to do something at a chosen
 * move (a gc, a failure). Closing it closes nothing: the test closes the store it wraps.
 */
abstract class ForwardingRefStore implements RefStore {
  final RefStore d;

  ForwardingRefStore(RefStore d) {
    this.d = d;
  }

  @Override
  public Optional<ChunkId> get(String name) throws IOException {
    return d.get(name);
  }

  @Override
  public void checkWritable(String model) throws IOException {
    d.checkWritable(model);
  }

  @Override
  public CasResult compareAndSet(String name, ChunkId expected, ChunkId next, RefLogEntry entry)
      throws IOException {
    return d.compareAndSet(name, expected, next, entry);
  }

  @Override
  public List<String> list(String prefix) throws IOException {
    return d.list(prefix);
  }

  @Override
  public List<String> listLogged(String prefix) throws IOException {
    return d.listLogged(prefix);
  }

  @Override
  public List<RefLogEntry> log(String name) throws IOException {
    return d.log(name);
  }

  @Override
  public void checkLog(String name) throws IOException {
    d.checkLog(name);
  }

  @Override
  public List<String> unreadable() throws IOException {
    return d.unreadable();
  }

  @Override
  public void close() {}
}
