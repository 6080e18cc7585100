package io.ferry.format.toy;

import io.ferry.format.DType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.SplittableRandom;

/** Writes {@link ToyFormat} files for tests. */
public final class ToyFiles {
  /** One tensor to write. */
  public record Spec(String name, DType dtype, long... shape) {
    long bytes() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return dtype.byteLength(n);
    }
  }

  private ToyFiles() {}

  /** Writes a toy file with random tensor data; returns where each tensor starts. */
  public static long[] write(Path file, long seed, List<Spec> tensors) throws IOException {
    ByteBuffer h = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
    h.put(ToyFormat.MAGIC).putInt(tensors.size());
    for (Spec s : tensors) {
      byte[] name = s.name().getBytes(StandardCharsets.UTF_8);
      h.putShort((short) name.length).put(name).put((byte) s.dtype().ordinal()).put((byte) s.shape().length);
      for (long d : s.shape()) {
        h.putLong(d);
      }
    }
    long[] starts = new long[tensors.size()];
    SplittableRandom r = new SplittableRandom(seed);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      long at = h.position();
      ch.write(h.flip(), 0);
      for (int i = 0; i < tensors.size(); i++) {
        long aligned = ToyFormat.align(at);
        ch.write(ByteBuffer.allocate((int) (aligned - at)), at);
        at = aligned;
        starts[i] = at;
        byte[] data = new byte[(int) tensors.get(i).bytes()];
        r.nextBytes(data);
        ch.write(ByteBuffer.wrap(data), at);
        at += data.length;
      }
      ch.truncate(at);
    }
    return starts;
  }
}
