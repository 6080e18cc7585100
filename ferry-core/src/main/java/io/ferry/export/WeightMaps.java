package io.ferry.export;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.error.InvalidInputException;
import io.ferry.read.ModelReader;
import io.ferry.version.FileEntry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.Iterator;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Rewrites a sharded model's index ({@code model.safetensors.index.json}, {@code pytorch_model.bin.index.json}) for a
 * conversion that renames its shards: every {@code weight_map} value renamed as its file is. Stateless.
 */
final class WeightMaps {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Largest index file read into memory (a sharded model's index is a few hundred KB). */
  private static final long MAX_INDEX = 64L << 20;

  private WeightMaps() {}

  /**
   * Writes the index {@code f} into {@code out} with each {@code weight_map} value {@code v} replaced by {@code
   * rename.apply(v)}, or kept where that is null; returns 0 (no tensor converted).
   *
   * @param as the format converted to, for messages ({@code "torch"})
   * @throws InvalidInputException if the index is too large, not JSON, or has no {@code weight_map} of file names
   */
  static long rename(ModelReader reader, FileEntry f, FileChannel out, String as, UnaryOperator<String> rename)
      throws IOException {
    if (f.size() > MAX_INDEX) {
      throw new InvalidInputException(f.path() + ": an index of " + f.size() + " bytes, above the " + MAX_INDEX
          + " bytes pull --as " + as + " rewrites");
    }
    ByteBuffer b = reader.readFile(f.path());
    JsonNode root;
    try {
      root = JSON.readTree(b.array(), b.arrayOffset() + b.position(), b.remaining());
    } catch (JsonProcessingException e) {
      throw new InvalidInputException(f.path() + ": not valid JSON, so its weight_map cannot be renamed for " + as
          + ": " + e.getOriginalMessage());
    }
    JsonNode map = root == null ? null : root.get("weight_map");
    if (!(map instanceof ObjectNode weights)) {
      throw new InvalidInputException(f.path() + ": has no \"weight_map\" object, so it cannot be renamed for " + as);
    }
    for (Iterator<Map.Entry<String, JsonNode>> it = weights.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!e.getValue().isTextual()) {
        throw new InvalidInputException(f.path() + ": weight_map entry '" + e.getKey() + "' is not a file name");
      }
      String renamed = rename.apply(e.getValue().asText());
      if (renamed != null) {
        e.setValue(weights.textNode(renamed));
      }
    }
    ByteBuffer json = ByteBuffer.wrap(JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root));
    while (json.hasRemaining()) {
      out.write(json);
    }
    return 0;
  }
}
