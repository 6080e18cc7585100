package io.ferry.format.safetensors;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import io.ferry.format.TensorInfo;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;

/**
 * Writes safetensors headers: the 8-byte little-endian length, then compact JSON ({@code __metadata__} first, then
 * the tensors in the given order), padded with spaces to a multiple of 8 bytes as the reference implementation does.
 * Stateless and thread-safe.
 */
public final class SafetensorsWriter {
  private static final JsonFactory JSON = new JsonFactory();

  private SafetensorsWriter() {}

  /**
   * The header bytes (length prefix included) for tensors that tile the data section in the given order.
   *
   * @throws IllegalArgumentException if the tensors do not follow each other from 0 without gap or overlap, or a
   *     byte range does not match dtype and shape
   */
  public static ByteBuffer header(Map<String, String> metadata, List<TensorInfo> tensors) {
    long at = 0;
    for (TensorInfo t : tensors) {
      if (t.begin() != at) {
        throw new IllegalArgumentException("tensor '" + t.name() + "' begins at " + t.begin() + ", expected " + at);
      }
      if (t.dtype().byteLength(t.elements()) != t.byteLength()) {
        throw new IllegalArgumentException("tensor '" + t.name() + "' has " + t.byteLength() + " bytes, its dtype "
            + t.dtype() + " and shape " + t.shape() + " need " + t.dtype().byteLength(t.elements()));
      }
      at = t.end();
    }
    ByteArrayOutputStream json = new ByteArrayOutputStream();
    try (JsonGenerator g = JSON.createGenerator(json)) {
      g.writeStartObject();
      if (!metadata.isEmpty()) {
        g.writeObjectFieldStart("__metadata__");
        for (Map.Entry<String, String> e : metadata.entrySet()) {
          g.writeStringField(e.getKey(), e.getValue());
        }
        g.writeEndObject();
      }
      for (TensorInfo t : tensors) {
        g.writeObjectFieldStart(t.name());
        g.writeStringField("dtype", t.dtype().name());
        g.writeArrayFieldStart("shape");
        for (long d : t.shape()) {
          g.writeNumber(d);
        }
        g.writeEndArray();
        g.writeArrayFieldStart("data_offsets");
        g.writeNumber(t.begin());
        g.writeNumber(t.end());
        g.writeEndArray();
        g.writeEndObject();
      }
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    byte[] bytes = json.toByteArray();
    int pad = (8 - bytes.length % 8) % 8;
    ByteBuffer out = ByteBuffer.allocate(8 + bytes.length + pad).order(ByteOrder.LITTLE_ENDIAN);
    out.putLong(bytes.length + pad).put(bytes);
    for (int i = 0; i < pad; i++) {
      out.put((byte) ' ');
    }
    return out.flip();
  }
}
