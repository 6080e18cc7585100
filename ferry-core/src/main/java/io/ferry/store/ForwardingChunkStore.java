package io.ferry.store;

import io.ferry.id.ChunkId;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * A chunk store that forwards every call to another, for {@link ChunkStoreLayer layers} and test wrappers that change
 * or watch a few calls: a subclass overrides only those. Every method of {@link ChunkStore} is forwarded, the
 * optional ones too ({@link #missing}, {@link #readInto}, {@link #hosts}, {@link #removeAbandoned}, {@link
 * #deletionCaveat}, {@link #layoutDamage}), so the inner
 * store's batch lookups and fast paths stay in use; {@link #get} is not, so it goes through this store's {@link
 * #read}. A subclass that watches reads therefore overrides {@link #read} and {@link #readInto}; one that watches
 * deletes overrides {@link #delete} and {@link #deleteIfPresent} (gc deletes through the latter).
 */
public abstract class ForwardingChunkStore implements ChunkStore {
  /** The store every call goes to. */
  protected final ChunkStore inner;

  protected ForwardingChunkStore(ChunkStore inner) {
    this.inner = Objects.requireNonNull(inner, "inner");
  }

  @Override
  public String describe() {
    return inner.describe();
  }

  @Override
  public boolean trusted() {
    return inner.trusted();
  }

  @Override
  public boolean readRejected(ChunkId object) throws IOException {
    return inner.readRejected(object);
  }

  @Override
  public String lastSender(ChunkId object) {
    return inner.lastSender(object);
  }

  @Override
  public boolean contains(ChunkId id) throws IOException {
    return inner.contains(id);
  }

  @Override
  public List<ChunkId> missing(Collection<ChunkId> ids) throws IOException {
    return inner.missing(ids);
  }

  @Override
  public boolean put(ChunkId id, ByteBuffer... parts) throws IOException {
    return inner.put(id, parts);
  }

  @Override
  public long size(ChunkId id) throws IOException {
    return inner.size(id);
  }

  @Override
  public ByteBuffer read(ChunkId id, long offset, int length) throws IOException {
    return inner.read(id, offset, length);
  }

  @Override
  public void readInto(ChunkId id, long offset, ByteBuffer dst) throws IOException {
    inner.readInto(id, offset, dst);
  }

  @Override
  public List<String> hosts(ChunkId id, long offset, long length) throws IOException {
    return inner.hosts(id, offset, length);
  }

  @Override
  public void list(Consumer<StoredObject> sink) throws IOException {
    inner.list(sink);
  }

  @Override
  public boolean listIds(String hexPrefix, Consumer<ChunkId> sink) throws IOException {
    return inner.listIds(hexPrefix, sink);
  }

  @Override
  public void delete(ChunkId id) throws IOException {
    inner.delete(id);
  }

  @Override
  public boolean deleteIfPresent(ChunkId id) throws IOException {
    return inner.deleteIfPresent(id);
  }

  @Override
  public long removeAbandoned(Instant olderThan) throws IOException {
    return inner.removeAbandoned(olderThan);
  }

  @Override
  public java.util.Optional<String> deletionCaveat() throws IOException {
    return inner.deletionCaveat();
  }

  @Override
  public java.util.List<String> layoutDamage() throws IOException {
    return inner.layoutDamage();
  }

  @Override
  public void close() throws IOException {
    inner.close();
  }
}
