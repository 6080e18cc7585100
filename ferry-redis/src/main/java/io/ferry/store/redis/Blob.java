package io.ferry.store.redis;

import io.lettuce.core.codec.RedisCodec;
import io.lettuce.core.codec.ToByteBufEncoder;
import io.netty.buffer.ByteBuf;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * A Redis value: a head and an optional body written one after the other, so that a part's header and its payload
 * (often a view of what the store returned) reach the socket without being joined into one buffer first. Values read
 * back are one heap buffer ({@link #head}, no body).
 */
record Blob(ByteBuffer head, ByteBuffer body) {
  static Blob of(String text) {
    return new Blob(ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)), null);
  }

  int size() {
    return head.remaining() + (body == null ? 0 : body.remaining());
  }

  String text() {
    ByteBuffer b = head.duplicate();
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return new String(out, StandardCharsets.UTF_8);
  }

  /** String keys (UTF-8) and {@link Blob} values; values are encoded straight into Netty's buffer. */
  static final class Codec implements RedisCodec<String, Blob>, ToByteBufEncoder<String, Blob> {
    static final Codec INSTANCE = new Codec();

    private Codec() {}

    @Override
    public String decodeKey(ByteBuffer bytes) {
      return StandardCharsets.UTF_8.decode(bytes).toString();
    }

    @Override
    public Blob decodeValue(ByteBuffer bytes) {
      // Lettuce reuses its buffer after this call: copy
      ByteBuffer copy = ByteBuffer.allocate(bytes.remaining());
      copy.put(bytes).flip();
      return new Blob(copy, null);
    }

    @Override
    public ByteBuffer encodeKey(String key) {
      return ByteBuffer.wrap(key.getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public ByteBuffer encodeValue(Blob value) {
      if (value == null) {
        return ByteBuffer.allocate(0);
      }
      ByteBuffer out = ByteBuffer.allocate(value.size());
      out.put(value.head.duplicate());
      if (value.body != null) {
        out.put(value.body.duplicate());
      }
      return out.flip();
    }

    @Override
    public void encodeKey(String key, ByteBuf target) {
      target.writeCharSequence(key, StandardCharsets.UTF_8);
    }

    @Override
    public void encodeValue(Blob value, ByteBuf target) {
      if (value == null) {
        return;
      }
      target.writeBytes(value.head.duplicate());
      if (value.body != null) {
        target.writeBytes(value.body.duplicate());
      }
    }

    @Override
    public int estimateSize(Object keyOrValue) {
      if (keyOrValue instanceof Blob b) {
        return b.size();
      }
      if (keyOrValue instanceof String s) {
        return s.length() * 3;
      }
      return 0;
    }
  }
}
