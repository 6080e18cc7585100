package io.ferry.format.safetensors;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** Writes safetensors files for tests: a length field, a header, and zero-filled (sparse) data. */
public final class SafetensorsFiles {
  private SafetensorsFiles() {}

  /** A file whose header is {@code header} in UTF-8, with its true length, followed by {@code dataLength} bytes. */
  public static Path write(Path file, String header, long dataLength) throws IOException {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    return writeRaw(file, h.length, h, dataLength);
  }

  /** A file with any declared header length, any header bytes, then {@code dataLength} zero bytes. */
  public static Path writeRaw(Path file, long declaredLength, byte[] header, long dataLength) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.setLength(0);
      f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(declaredLength).array());
      f.write(header);
      f.setLength(8L + header.length + dataLength);
    }
    return file;
  }

  /** The JSON of one tensor entry: {@code "name":{"dtype":..,"shape":[..],"data_offsets":[b,e]}}. */
  public static String tensor(String name, String dtype, String shape, long begin, long end) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + ","
        + end + "]}";
  }
}
