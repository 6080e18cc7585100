package io.ferry.format.toy;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.FormatMetadata;
import io.ferry.format.Region;
import io.ferry.format.TensorFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A made-up tensor format that tests register through {@code META-INF/services}, as a module such as a future
 * ferry-gguf would: magic {@code FTOY}, a little-endian u32 tensor count, then per tensor a u16 name length, the name,
 * a u8 {@link DType} ordinal, a u8 rank and the dimensions as u64; the header is zero-padded to a multiple of
 * {@link #ALIGN} bytes, and every tensor starts on such a multiple (zero padding between tensors).
 */
public final class ToyFormat implements TensorFormat {
  static final byte[] MAGIC = "FTOY".getBytes(StandardCharsets.US_ASCII);
  static final int ALIGN = 16;

  @Override
  public String name() {
    return "toy";
  }

  @Override
  public Set<String> extensions() {
    return Set.of(".toy");
  }

  @Override
  public boolean recognises(ByteBuffer head, long size) {
    if (head.remaining() < MAGIC.length) {
      return false;
    }
    for (int i = 0; i < MAGIC.length; i++) {
      if (head.get(head.position() + i) != MAGIC[i]) {
        return false;
      }
    }
    return true;
  }

  @Override
  public FileLayout read(FormatInput in) throws IOException {
    ByteBuffer head = ByteBuffer.allocate((int) Math.min(in.size(), 1 << 16)).order(ByteOrder.LITTLE_ENDIAN);
    in.readFully(head, 0);
    head.flip();
    try {
      byte[] magic = new byte[4];
      head.get(magic);
      if (!java.util.Arrays.equals(magic, MAGIC)) {
        throw new InvalidInputException(in.name() + ": no FTOY magic at byte 0");
      }
      int n = head.getInt();
      List<String> names = new ArrayList<>();
      List<DType> types = new ArrayList<>();
      List<List<Long>> shapes = new ArrayList<>();
      Set<String> seen = new HashSet<>();
      for (int i = 0; i < n; i++) {
        byte[] name = new byte[head.getShort() & 0xffff];
        head.get(name);
        String s = new String(name, StandardCharsets.UTF_8);
        if (!seen.add(s)) {
          throw new InvalidInputException(in.name() + ": tensor '" + s + "' appears twice");
        }
        names.add(s);
        types.add(DType.values()[head.get() & 0xff]);
        int rank = head.get() & 0xff;
        List<Long> shape = new ArrayList<>();
        for (int d = 0; d < rank; d++) {
          shape.add(head.getLong());
        }
        shapes.add(shape);
      }
      List<Region> regions = new ArrayList<>();
      long at = head.position();
      regions.add(new Region.Header(0, at));
      long dataStart = align(at);
      for (int i = 0; i < n; i++) {
        long start = align(at);
        if (start > at) {
          regions.add(new Region.Padding(at, start));
        }
        long elements = 1;
        for (long d : shapes.get(i)) {
          elements *= d;
        }
        long end = start + types.get(i).byteLength(elements);
        if (end > in.size()) {
          throw new InvalidInputException(in.name() + ": tensor '" + names.get(i) + "' ends at byte " + end
              + ", past the end of the file (" + in.size() + ")");
        }
        long row = shapes.get(i).isEmpty() || shapes.get(i).get(0) == 0 ? -1 : (end - start) / shapes.get(i).get(0);
        regions.add(new Region.Tensor(names.get(i), types.get(i), shapes.get(i), start, end, row > 0 ? row : -1));
        at = end;
      }
      if (at != in.size()) {
        throw new InvalidInputException(in.name() + ": " + (in.size() - at) + " trailing bytes after the last tensor");
      }
      return new FileLayout(name(), in.name(), in.size(), dataStart, regions, new ToyMetadata(n));
    } catch (java.nio.BufferUnderflowException | IndexOutOfBoundsException e) {
      throw new InvalidInputException(in.name() + ": header truncated at byte " + head.position(), e);
    }
  }

  static long align(long at) {
    return (at + ALIGN - 1) / ALIGN * ALIGN;
  }

  /** The toy's typed metadata: how many tensors the header announced. */
  public record ToyMetadata(int count) implements FormatMetadata {
    @Override
    public Map<String, String> asStrings() {
      return Map.of("toy.count", Integer.toString(count));
    }
  }
}
