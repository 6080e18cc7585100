package io.ferry.cli;

import io.ferry.format.DType;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** Writes test inputs: valid and hand-made (possibly malformed) safetensors files, random opaque files. */
final class Files2 {
  private Files2() {}

  static Tensor t(String name, DType dtype, long seed, long... shape) {
    return new Tensor(name, dtype, shape, seed);
  }

  static Path safetensors(Path file, Tensor... tensors) throws IOException {
    ModelGenerator.writeSafetensors(file, List.of(tensors), Map.of());
    return file;
  }

  /** A safetensors file with the given header length field, header bytes and data, nothing checked. */
  static Path raw(Path file, long headerLength, byte[] header, byte[] data) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(headerLength).put(header).put(data);
    Files.createDirectories(file.toAbsolutePath().getParent());
    Files.write(file, b.array());
    return file;
  }

  /** A safetensors file with a JSON header text (length field correct) and {@code dataBytes} bytes of data. */
  static Path raw(Path file, String headerJson, int dataBytes) throws IOException {
    byte[] h = headerJson.getBytes(StandardCharsets.UTF_8);
    return raw(file, h.length, h, new byte[dataBytes]);
  }

  static byte[] random(Random r, int n) {
    byte[] b = new byte[n];
    r.nextBytes(b);
    return b;
  }

  static Path write(Path file, byte[] content) throws IOException {
    Files.createDirectories(file.toAbsolutePath().getParent());
    return Files.write(file, content);
  }
}
