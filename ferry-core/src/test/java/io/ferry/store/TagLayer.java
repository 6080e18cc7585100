package io.ferry.store;

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
    return new ForwardingChunkStore(inner) {
      @Override
      public String describe() {
        return tag + "(" + inner.describe() + ")";
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
