package io.ferry.store;

import io.ferry.id.ChunkId;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.function.Consumer;

/** Test layers {@code tag-a} and {@code tag-b}: pass everything through and wrap {@link ChunkStore#describe}. */
public abstract class TagLayer implements ChunkStoreLayer {
  private final String tag;

  TagLayer(String tag) {
    this.tag = tag;
  }

  @Override
  public String name() {
    return "tag-" + tag;
  }

  @Override
  public ChunkStore wrap(ChunkStore inner, StoreOptions options) {
    return new ChunkStore() {
      @Override
      public String describe() {
        return tag + "(" + inner.describe() + ")";
      }

      @Override
      public boolean contains(ChunkId id) throws IOException {
        return inner.contains(id);
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
      public void list(Consumer<StoredObject> sink) throws IOException {
        inner.list(sink);
      }

      @Override
      public void delete(ChunkId id) throws IOException {
        inner.delete(id);
      }

      @Override
      public void close() throws IOException {
        inner.close();
      }
    };
  }

  /** {@code tag-a}. */
  public static final class A extends TagLayer {
    public A() {
      super("a");
    }
  }

  /** {@code tag-b}. */
  public static final class B extends TagLayer {
    public B() {
      super("b");
    }
  }
}
