package io.ferry.format.gguf;

import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.TensorFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Set;

/**
 * GGUF (llama.cpp, Ollama) as a {@link TensorFormat}: files ending in {@code .gguf}, and files of any name that begin
 * with the magic {@code GGUF} and a version field (which holds zero bytes, so no text file begins so). The layout is
 * the header (magic, counts, key-value metadata, tensor infos), the padding to the data section, then each tensor
 * followed by its padding to the file's alignment. Validation follows ggml's own loader; see {@code docs/formats.md}
 * for every rule. Stateless and thread-safe.
 */
public final class GgufFormat implements TensorFormat {
  /** The format's name, as snapshots record it. */
  public static final String NAME = "gguf";

  /** Creates the format; it holds no state. */
  public GgufFormat() {}

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public Set<String> extensions() {
    return Set.of(".gguf");
  }

  /**
   * Yes for the magic {@code GGUF} followed by a version field of 1, 2 or 3 in either byte order (versions Ferry then
   * refuses, such as 1 or a big-endian file, are refused by name rather than stored as opaque bytes).
   */
  @Override
  public boolean recognises(ByteBuffer head, long size) {
    if (head.remaining() < 8) {
      return false;
    }
    ByteBuffer b = head.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    int magic = b.getInt(b.position());
    int version = b.getInt(b.position() + 4);
    return magic == GgufReader.MAGIC && (version >= 1 && version <= GgufReader.VERSION
        || Integer.reverseBytes(version) >= 1 && Integer.reverseBytes(version) <= GgufReader.VERSION);
  }

  /** @throws io.ferry.error.InvalidInputException naming the file, the key or tensor, and the rule it breaks */
  @Override
  public FileLayout read(FormatInput in) throws IOException {
    return GgufReader.read(in);
  }
}
